"""Packaging: the conda env files, pyproject.toml and the lock agree; the environment is the lock."""

import re
import tomllib

import yaml

from tests.conftest import ROOT


def package_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def env_packages(path) -> set[str]:
    spec = yaml.safe_load(path.read_text())
    names = set()
    for dependency in spec["dependencies"]:
        if isinstance(dependency, dict):
            names |= {package_name(r) for r in dependency.get("pip", [])}
        elif package_name(dependency) not in ("python", "pip"):
            names.add(package_name(dependency))
    return names


def test_envs_name_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = project["dependencies"] + project["optional-dependencies"]["cluster"]
    declared = {package_name(r) for r in runtime}
    envs = {path.name: env_packages(path) for path in sorted((ROOT / "envs").glob("*.yaml"))}
    assert set(envs) >= {"torch.yaml", "analysis.yaml", "workflow.yaml"}
    assert set().union(*envs.values()) == declared
    assert "torch" not in envs["analysis.yaml"], "statistics and plots must not need torch"


def test_every_rule_env_exists():
    for rules in (ROOT / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', rules.read_text()):
            assert (rules.parent / env).resolve().is_file(), f"{rules.name}: {env}"


LOCK = ROOT / "requirements" / "lock.txt"


def locked() -> dict[str, str]:
    """``package -> version`` pinned in requirements/lock.txt."""
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", LOCK.read_text(), flags=re.M)
    return {package_name(name): version for name, version in pins}


def env_pins(path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    pins = {}
    for dependency in spec["dependencies"]:
        for requirement in dependency.get("pip", []) if isinstance(dependency, dict) else []:
            name, _, version = requirement.partition("==")
            assert version, f"{path.name}: {requirement} is not pinned"
            pins[package_name(name)] = version.strip()
    return pins


def test_the_lock_pins_every_dependency_and_no_cuda_build():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = {package_name(r) for r in project["dependencies"] + extras["cluster"] + extras["test"]}
    pins = locked()
    assert declared - {"torch", "interpflow"} <= set(pins)
    assert "torch" not in pins, "torch's build is chosen at install time (Makefile TORCH)"
    assert not [name for name in pins if name.startswith("nvidia-") or name == "triton"]
    assert "==" not in "".join(line for line in LOCK.read_text().splitlines() if line.startswith("-"))
    assert " @ " not in LOCK.read_text(), "no package from a path or URL (interpflow installs itself, --no-deps)"


def test_envs_pin_the_versions_of_the_lock():
    pins = locked()
    torch = re.search(r"^TORCH \?= torch==(\S+)$", (ROOT / "Makefile").read_text(), flags=re.M).group(1)
    for path in sorted((ROOT / "envs").glob("*.yaml")):
        for name, version in env_pins(path).items():
            assert version == (torch if name == "torch" else pins[name]), f"{path.name}: {name}=={version}"


def test_the_environment_is_the_lock():
    """`make test` runs in the .venv installed from the lock: every locked package at its version."""
    from importlib import metadata

    installed = {package_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()}
    wrong = {
        name: (version, installed.get(name)) for name, version in locked().items() if installed.get(name) != version
    }
    assert not wrong, f"locked -> installed: {wrong}; reinstall with `rm -rf .venv && make test`"

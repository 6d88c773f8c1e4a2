"""The conda env files and pyproject.toml name the same packages."""

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

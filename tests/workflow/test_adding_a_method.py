"""Adding a method is new files plus its registry line: docs/adding-a-method.md, followed to the letter.

The test writes every file the page shows into a fresh copy of the workflow, adds the registry line
the page shows, checks that no existing file but the registry changed, and runs the new method end to
end with the real snakemake on the embedded model: its table (against numpy, from the activation
store), figure, table view and comparison.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.numpy import load_file

from tests.conftest import ROOT
from tests.workflow_helpers import copy_project, snakemake

pytestmark = pytest.mark.e2e

PAGE = ROOT / "docs" / "adding-a-method.md"
REGISTRY = "src/interpflow/registry.py"
# A file the page shows: its path in bold, then a fenced block with its whole text.
FILE_BLOCK = re.compile(r"^\*\*`(?P<path>[^`]+)`\*\*\n\n```\w*\n(?P<text>.*?)^```$", flags=re.M | re.S)
# The registry line: the last entry of the METHOD_NAMES the page shows.
REGISTRY_LINE = re.compile(
    r"`METHOD_NAMES` of \*\*`src/interpflow/registry\.py`\*\*\.\n\n"
    r"```python\nMETHOD_NAMES = \[\n.*?\n(?P<line>[^\n]*)\n\]\n```",
    flags=re.S,
)


def page_files() -> dict[str, str]:
    files = {match["path"]: match["text"] for match in FILE_BLOCK.finditer(PAGE.read_text(encoding="utf-8"))}
    assert len(files) >= 12, f"the page should show every file of the method: {sorted(files)}"
    return files


def snapshot(folder) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def register(workdir, line: str) -> None:
    """Add ``line`` as the last entry of ``METHOD_NAMES``, as the page says."""
    registry = workdir / REGISTRY
    text = registry.read_text(encoding="utf-8")
    names = re.search(r"^METHOD_NAMES = \[\n(.*?)^\]", text, flags=re.M | re.S)
    registry.write_text(text[: names.end(1)] + line + "\n" + text[names.end(1) :], encoding="utf-8")


def test_a_method_added_as_documented_runs_end_to_end(tmp_path):
    workdir = copy_project(tmp_path / "project")
    before = snapshot(workdir)
    files = page_files()
    for relative, text in files.items():
        path = workdir / relative
        if relative != "my_norms.yaml":
            assert not path.exists(), f"the page's {relative} should be a new file"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    register(workdir, REGISTRY_LINE.search(PAGE.read_text(encoding="utf-8"))["line"])

    after = snapshot(workdir)
    changed = {path for path in before if after[path] != before[path]}
    assert changed == {REGISTRY}, "adding a method edits no shared file but the registry"

    snakemake(workdir, "token_norms", overlays=("overlays/embedded.yaml", "my_norms.yaml"))

    run = workdir / "results" / "token_norms" / "ravel" / "embedded"
    for name in ("norms.parquet", "figures/norms.png", "figures/norms.svg", "tables/norms.html"):
        assert (run / name).is_file(), name
    norms = pd.read_parquet(run / "norms.parquet")
    store = load_file(workdir / "results" / "activations" / "embedded" / "ravel.safetensors")
    n_layer = yaml.safe_load((workdir / "config.yaml").read_text())["models"]["embedded"]["n_layer"]
    assert sorted(norms["layer"].unique()) == list(range(n_layer))
    for layer in (0, n_layer - 1):
        expected = np.linalg.norm(store[f"blocks.{layer}.hook_resid_pre"].astype(np.float64), axis=1)
        np.testing.assert_allclose(norms[norms["layer"] == layer]["norm"].to_numpy(), expected, rtol=0, atol=0)
    comparison = pd.read_parquet(workdir / "results" / "token_norms" / "comparison.parquet")
    assert list(comparison.columns) == ["instance", "model", "n_layer", "layer", "relative_depth", "mean_norm"]
    np.testing.assert_allclose(comparison["mean_norm"], norms.groupby("layer")["norm"].mean().to_numpy())
    assert (workdir / "results" / "token_norms" / "comparison.png").is_file()

    # The same run with nothing changed has nothing to do.
    again = snakemake(workdir, "token_norms", "-n", overlays=("overlays/embedded.yaml", "my_norms.yaml"))
    assert "Nothing to be done" in again.stdout + again.stderr


# Methods that came after the lectures, each through the contract: its own files and its registry line.
ADDED_METHODS = [
    "activation_patching",
    "logit_lens",
    "direct_logit_attribution",
    "attribution_patching",
    "edge_attribution_patching",
]
# A method that is compared with another's results names it in its own files, and goes with it.
BUILDS_ON = {"attribution_patching": {"activation_patching"}}
# The workflow's code: what a method may not touch beyond its own files and the registry line.
CODE = [
    "Snakefile",
    "Makefile",
    "rules/*.smk",
    "src/**/*.py",
    "scripts/*.py",
    "schemas/**/*.yaml",
    "report/**/*.rst",
    "envs/*",
    "profiles/**/*",
]


def own_files(root, method: str) -> set[str]:
    """A method's files as the page lists them: package, options, rules, scripts, captions."""
    patterns = [f"src/interpflow/methods/{method}/**/*", f"schemas/methods/{method}.yaml", f"rules/{method}.smk"]
    patterns += [f"scripts/{method}_*.py", f"report/{method}/*"]
    return {str(path.relative_to(root)) for pattern in patterns for path in root.glob(pattern) if path.is_file()}


def names(path, method: str) -> bool:
    """Whether the file names ``method`` as a whole word (``attribution_patching`` is not in
    ``edge_attribution_patching``)."""
    text = (ROOT / path).read_text(encoding="utf-8", errors="replace")
    return re.search(rf"(?<![\w]){method}(?![\w])", text) is not None


def registered_methods() -> list[str]:
    """``METHOD_NAMES`` of the registry, in order."""
    entries = re.search(
        r"^METHOD_NAMES = \[\n(.*?)^\]", (ROOT / REGISTRY).read_text(encoding="utf-8"), flags=re.M | re.S
    )
    return re.findall(r'^    "(\w+)",$', entries[1], flags=re.M)


@pytest.mark.parametrize("method", ADDED_METHODS)
def test_a_method_added_after_the_lectures_is_its_own_files_and_its_registry_line(tmp_path, method):
    own = own_files(ROOT, method)
    assert f"src/interpflow/methods/{method}/method.py" in own and f"rules/{method}.smk" in own
    code = {str(path.relative_to(ROOT)) for pattern in CODE for path in ROOT.glob(pattern) if path.is_file()}
    methods = registered_methods()
    assert set(ADDED_METHODS) <= set(methods)
    every_own = {name: own_files(ROOT, name) for name in methods}
    shared = code - set().union(*every_own.values()) - {REGISTRY}
    assert sorted(path for path in shared if names(path, method)) == [], f"shared code names {method}"
    naming = {other for other in methods if other != method and any(names(p, method) for p in every_own[other])}
    dependents = {other for other, bases in BUILDS_ON.items() if method in bases}
    assert naming == dependents, f"methods that name {method} in their files should be those that build on it"

    # Without its files, its registry line and its instances (and those of the methods built on it),
    # the whole workflow still builds its DAG.
    workdir = copy_project(tmp_path / "project")
    registry = workdir / REGISTRY
    for removed in {method} | dependents:
        for relative in every_own[removed]:
            (workdir / relative).unlink()
        line = f'    "{removed}",\n'
        assert line in registry.read_text(encoding="utf-8")
        registry.write_text(registry.read_text(encoding="utf-8").replace(line, ""), encoding="utf-8")
        for path in (workdir / "overlays").glob("*.yaml"):
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
            if config.pop(removed, None) is not None:
                path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    dry = snakemake(workdir, "-n", overlays=("overlays/embedded.yaml", "overlays/families.yaml"))
    assert f"rule {method}" not in dry.stdout and "extract_activations" in dry.stdout

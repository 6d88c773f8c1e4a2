"""The package's layers hold: import-linter's contracts in pyproject.toml (config > registry > methods > circuits >
sae | plotting > stores > models > runtime; methods independent of each other; the SAE package's rooms and
the config checks in their own layers), and every module sits in a layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(project: Path, src: Path) -> subprocess.CompletedProcess:
    """lint-imports with ``project``'s pyproject.toml, on the package under ``src``."""
    environment = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "200"}  # one line per contract
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=project, capture_output=True, text=True, env=environment)


def test_the_import_contracts_are_kept():
    result = lint_imports(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        # a lower layer of the package importing a method
        ("models.sites", "methods.subspace_removal.analysis", "Layers"),
        # the SAE core importing a way out, or the evaluation
        ("sae.core.training", "sae.interop.saelens", "SAE rooms"),
        ("sae.core.variants", "sae.evaluation.metrics", "SAE rooms"),
        # the two rooms above the core importing each other
        ("sae.evaluation.spliced", "sae.interop.pretrained", "SAE rooms"),
        # a config step importing what runs it, or a step beside it
        ("config.loading", "config.validation", "Config checks"),
        ("config.sweeps", "config.references", "Config checks"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, forbidden, contract):
    """Each contract can fail: one import against it, in a copy of the package, is reported by name."""
    shutil.copytree(ROOT / "src" / "interpflow", tmp_path / "src" / "interpflow")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "src" / "interpflow" / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\nimport interpflow.{forbidden}  # noqa\n")
    result = lint_imports(tmp_path, tmp_path / "src")
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), result.stdout
    assert f"interpflow.{module} -> interpflow.{forbidden}" in result.stdout


def test_every_module_is_in_a_layer():
    """A new module must be placed in the layers (an unlisted module is checked by no contract)."""
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    listed = {name.strip() for layer in contract["layers"] for name in layer.replace("|", ":").split(":")}
    package = ROOT / "src" / "interpflow"
    modules = {path.stem for path in package.glob("*.py") if path.stem != "__init__"}
    modules |= {path.name for path in package.iterdir() if (path / "__init__.py").is_file()}
    assert modules == listed, (
        f"not in a layer: {sorted(modules - listed)}; listed but absent: {sorted(listed - modules)}"
    )

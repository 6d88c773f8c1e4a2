"""The package's layers hold: import-linter's contracts in pyproject.toml (config > registry >
plotting > methods > core; methods independent of each other), and every module sits in a layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(project: Path, src: Path) -> subprocess.CompletedProcess:
    """lint-imports with ``project``'s pyproject.toml, on the package under ``src``."""
    environment = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=project, capture_output=True, text=True, env=environment)


def test_the_import_contracts_are_kept():
    result = lint_imports(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_a_core_module_importing_a_method_breaks_the_layers(tmp_path):
    """The contract can fail: a lower layer (models.sites) importing a method."""
    shutil.copytree(ROOT / "src" / "interpflow", tmp_path / "src" / "interpflow")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    module = tmp_path / "src" / "interpflow" / "models" / "sites.py"
    module.write_text(
        module.read_text() + "\nfrom interpflow.methods.subspace_removal.analysis import spectrum_table  # noqa\n"
    )
    result = lint_imports(tmp_path, tmp_path / "src")
    assert result.returncode != 0
    assert "interpflow.models.sites -> interpflow.methods.subspace_removal.analysis" in result.stdout


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

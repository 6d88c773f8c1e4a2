"""The workflow passes snakemake --lint and is snakefmt-formatted."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.workflow_helpers import SNAKEMAKE


def test_snakemake_lint_is_clean():
    result = subprocess.run(
        [SNAKEMAKE, "--lint", "--configfile", "overlays/embedded.yaml"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_snakefiles_are_formatted():
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    if snakefmt is None:
        pytest.skip("snakefmt is not installed (pip install -e '.[test]')")
    result = subprocess.run([snakefmt, "--check", "Snakefile", "rules"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

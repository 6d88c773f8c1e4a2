"""A damaged result is found, named and rebuilt: a truncated safetensors file, Parquet table and corpus
shard in a copy of the shared run are set aside at start-up, the plain rerun rebuilds exactly their chains
with the bytes the run first wrote, and ``verify`` lists each one (exit 1, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.workflow_helpers import copy_run, scheduled_jobs, snakemake

pytestmark = pytest.mark.e2e

DAMAGED = {
    "results/streaming_sae/demo_topk/embedded/sae.safetensors": "streaming_sae_train",
    "results/residual_decomposition/plants/embedded/correlations.parquet": "residual_decomposition_statistics",
    "results/activations/embedded/demo_corpus/shard-3.safetensors": "extract_corpus_shard",
}


def result_bytes(workdir) -> dict[str, bytes]:
    """Every file under ``results/`` but the damaged ones set aside."""
    files = sorted(path for path in (workdir / "results").rglob("*") if path.is_file())
    return {str(path.relative_to(workdir)): path.read_bytes() for path in files if not path.name.endswith(".damaged")}


def verify(workdir) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "interpflow.runtime.provenance", "verify", "results"]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=environment)


@pytest.fixture(scope="module")
def damaged_run(local_run, tmp_path_factory):
    """A copy of the shared run with the :data:`DAMAGED` files cut to 1000 bytes, and the run's bytes."""
    workdir = copy_run(local_run.workdir, tmp_path_factory.mktemp("damaged") / "project")
    before = result_bytes(workdir)
    for path in DAMAGED:
        os.truncate(workdir / path, 1000)
    return workdir, before


def test_verify_lists_every_damaged_file_and_exits_1_without_a_traceback(damaged_run):
    workdir, _ = damaged_run
    result = verify(workdir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for path, rule in DAMAGED.items():
        assert f"{path}: not what rule {rule} wrote: 1000 bytes" in result.stdout
        assert f"{path}: cannot be read (" in result.stdout  # and why, in its reader's words


def test_the_plain_rerun_rebuilds_exactly_the_damaged_chains_with_the_same_bytes(damaged_run):
    workdir, before = damaged_run
    dry = snakemake(workdir, "-n")
    for path, rule in DAMAGED.items():
        assert f"damaged result: {path} (made by rule {rule}): 1000 bytes" in dry.stderr + dry.stdout
    jobs = scheduled_jobs(dry.stdout)
    assert jobs["extract_corpus_shard"] == 1 and jobs["residual_decomposition_statistics"] == 1
    assert jobs["streaming_sae_train"] >= 1  # the shard feeds every corpus SAE: retrained from the same bytes
    assert "extract_activations" not in jobs and "subspace_removal_interventions" not in jobs  # nothing else
    snakemake(workdir)
    after = result_bytes(workdir)
    assert after.keys() == before.keys()
    changed = sorted(path for path in before if after[path] != before[path])
    assert changed == [], changed
    again = snakemake(workdir, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    assert verify(workdir).stdout.count("not what rule") == 0

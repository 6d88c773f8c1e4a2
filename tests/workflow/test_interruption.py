"""A run killed with SIGKILL, then the recovery commands of docs/interruption.md, ends as an uninterrupted run.

``kill -9`` of the whole process group (snakemake and the job it runs) stands in for a crashed
node or a lost terminal: nothing gets to clean up. A corpus SAE killed mid-training resumes from
its last checkpoint and still ends with the uninterrupted run's bytes. The documented recovery is
``snakemake --unlock`` and then ``snakemake --rerun-incomplete``; afterwards every output must be
byte-identical to the shared uninterrupted run's, and no temporary file may be left behind.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.workflow_helpers import SNAKEMAKE, copy_project, snakemake

pytestmark = pytest.mark.e2e

OVERLAYS = ("--configfile", "overlays/embedded.yaml")
TARGETS = ("sparse_autoencoder__palinka", "neuron_contrast__him_her")
STORES = ("palinka", "pronoun_sentences")
CORPUS_RUN = "results/streaming_sae/demo_topk/embedded"
# stage -> (targets, what is made first, the file whose appearance means the stage runs): a model
# stage (extraction, then SAE training), a statistics stage (neuron tests over 12 layers), and a
# corpus SAE's training once it has saved a checkpoint (the rerun resumes from it).
STAGES = {
    "model stage": (TARGETS, (), "logs/activations/embedded/palinka.log"),
    "statistics stage": (
        TARGETS,
        tuple(f"results/activations/embedded/{text}.safetensors" for text in STORES),
        "logs/neuron_contrast/him_her/embedded/statistics.log",
    ),
    "corpus SAE training": (
        ("streaming_sae__demo_topk",),
        ("results/activations/embedded/demo_corpus/manifest.json",),
        f"{CORPUS_RUN}/checkpoint.safetensors",
    ),
}


def kill_when_started(workdir: Path, targets, log: str, rng: random.Random) -> subprocess.CompletedProcess:
    """Start the targets; once ``log`` appears (its stage runs), wait a random moment and SIGKILL the group."""
    command = [SNAKEMAKE, "--cores", "2", *targets, *OVERLAYS]
    environment = {**os.environ, "SLURM_CONF": os.devnull}
    process = subprocess.Popen(
        command, cwd=workdir, env=environment, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 300
    while not (workdir / log).exists():
        assert process.poll() is None, f"the run ended before {log} appeared:\n{process.stdout.read().decode()}"
        assert time.monotonic() < deadline, f"{log} never appeared"
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 1.5))
    os.killpg(process.pid, signal.SIGKILL)
    output, _ = process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, output.decode())


def outputs(workdir: Path, under: Path) -> dict[str, bytes]:
    """Every result file of ``workdir`` that also exists under ``under``, by relative path."""
    found = {}
    for path in (workdir / "results").rglob("*"):
        relative = path.relative_to(workdir)
        if path.is_file() and (under / relative).is_file():
            found[relative.as_posix()] = path.read_bytes()
    return found


@pytest.mark.parametrize("stage", list(STAGES))
def test_kill_9_then_the_documented_recovery_gives_the_uninterrupted_outputs(local_run, tmp_path, stage):
    workdir = copy_project(tmp_path / "project")
    rng = random.Random(f"interpflow {stage}")
    targets, first, started = STAGES[stage]
    if first:  # e.g. the stores first, so that the kill lands in the statistics
        snakemake(workdir, *first)
    killed = kill_when_started(workdir, targets, started, rng)
    assert killed.returncode == -signal.SIGKILL

    # What docs/interruption.md says Snakemake answers next (a lock, or incomplete files: whichever it meets
    # first), and the two commands that recover.
    refused = snakemake(workdir, *targets, check=False)
    answer = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "It can be removed with the --unlock argument" in answer or "--rerun-incomplete flag" in answer, answer
    snakemake(workdir, "--unlock")
    snakemake(workdir, *targets, "--rerun-incomplete")

    written = outputs(workdir, local_run.workdir)
    assert len(written) >= 15
    if stage == "corpus SAE training":  # resumed, not restarted, and to the uninterrupted run's weights
        training_log = (workdir / "logs/streaming_sae/demo_topk/embedded/train.log").read_text()
        assert re.search(r"resuming from the checkpoint at step [1-9]\d* of", training_log), training_log
        assert not (workdir / CORPUS_RUN / "checkpoint.safetensors").exists()
    for relative, content in written.items():
        same = content == (local_run.workdir / relative).read_bytes()  # a bool: no diff of megabytes
        assert same, f"{relative} differs from the uninterrupted run"
    leftovers = [p for p in (workdir / "results").rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    assert not [p for p in (workdir / "models").rglob("*") if p.name.endswith(".tmp")]

"""Two runs in one folder never write the same outputs at once, whatever Snakemake's lock says.

The case from the field: a long SAE training runs; a colleague's short run on another target in the
same folder finishes beside it, and Snakemake's end-of-run clean-up deletes ``.snakemake/locks/``,
the long run's lock included; the long run's own command is then started again. That second run must
be refused before any job starts (and so before Snakemake removes anything); with its start-up check
skipped (``--no-hooks``) the stage itself must refuse; and the one training must end with the bytes
of an undisturbed run. The training is paused (SIGSTOP) while the others run, so the case does not
depend on how fast the machine is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from interpflow.runtime.output_locks import writers
from tests.workflow_helpers import SNAKEMAKE, copy_run, snakemake

pytestmark = pytest.mark.e2e

TARGET = "streaming_sae__demo_topk"
RUN = "results/streaming_sae/demo_topk/embedded"
OUTPUTS = [f"{RUN}/sae.safetensors", f"{RUN}/sae_config.json", f"{RUN}/training_log.parquet"]
REFUSED = f"refused to start: {len(OUTPUTS)} output(s) are being written by another run"
COLLEAGUES_TARGET = "results/resolved_config.yaml"


def test_a_second_writer_is_refused_even_after_another_run_deleted_snakemakes_locks(local_run, tmp_path, monkeypatch):
    workdir = copy_run(local_run.workdir, tmp_path / "project")
    for output_file in [*OUTPUTS, COLLEAGUES_TARGET]:  # the training to run again, and the colleague's job
        (workdir / output_file).unlink()
    long_run = subprocess.Popen(
        [SNAKEMAKE, "--cores", "2", TARGET, "--configfile", "overlays/embedded.yaml"],
        cwd=workdir,
        env={**os.environ, "SLURM_CONF": os.devnull},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    monkeypatch.chdir(workdir)  # lock files are named relative to the working folder, as the jobs see it
    deadline = time.monotonic() + 300
    try:
        while not writers(OUTPUTS):
            assert long_run.poll() is None, long_run.stdout.read()
            assert time.monotonic() < deadline, "the training never started"
            time.sleep(0.05)
        trainer = writers(OUTPUTS)[OUTPUTS[0]]
        assert trainer.rule == "streaming_sae_train"
        os.kill(trainer.pid, signal.SIGSTOP)
        try:
            snakemake(workdir, COLLEAGUES_TARGET)  # the colleague's short, disjoint run
            assert not (workdir / ".snakemake" / "locks").exists()  # Snakemake removed the long run's lock

            again = snakemake(workdir, TARGET, check=False)
            assert again.returncode != 0
            assert REFUSED in again.stderr, again.stderr
            assert f"{OUTPUTS[0]}: rule streaming_sae_train, process {trainer.pid}" in again.stderr
            assert "rule streaming_sae_train:" not in again.stdout + again.stderr  # no job started

            unchecked = snakemake(workdir, TARGET, "--no-hooks", check=False)  # only the stage's own lock
            assert unchecked.returncode != 0
            log = (workdir / "logs/streaming_sae/demo_topk/embedded/train.log").read_text()
            assert REFUSED in log, log
            assert "resuming" not in log and "steps of" not in log  # it stopped before training
        finally:
            os.kill(trainer.pid, signal.SIGCONT)
        output, _ = long_run.communicate(timeout=600)
        assert long_run.returncode == 0, output
    finally:
        if long_run.poll() is None:
            os.killpg(long_run.pid, signal.SIGKILL)
    assert output.count("rule streaming_sae_train:") == 1
    for output_file in OUTPUTS:
        same = (workdir / output_file).read_bytes() == (local_run.workdir / output_file).read_bytes()
        assert same, f"{output_file} differs from an undisturbed run's"

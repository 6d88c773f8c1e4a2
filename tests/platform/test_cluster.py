"""The embedded workflow on a real single-node SLURM cluster, through profiles/slurm.

The cluster is this machine (tools/single_node_slurm.sh): one node with its CPUs and memory and one
declared GPU, no accounting database, so job status comes from ``squeue``. One module-scoped run
cancels a model stage mid-run, then completes with ``--rerun-incomplete``; the tests read what SLURM
recorded about every job and compare every table with the local run of the same configuration. A
second run cancels the corpus SAE's training after its first checkpoint; the third resumes it.

The runs make two instances' targets (:data:`TARGETS`: a text method with a model stage of each kind
and the corpus method with its sharded extraction), not the whole overlay: every kind of stage runs on
the cluster, in a third of the jobs, and each table is compared with the local run's.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.workflow_helpers import (
    MODEL_STAGES,
    SNAKEMAKE,
    assert_same_tables,
    copy_project,
    scheduled_jobs,
    snakemake,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slurm]

CLUSTER_SCRIPT = ROOT / "tools" / "single_node_slurm.sh"
CANNOT_INSTALL = 2  # the script's exit status where slurm is missing and cannot be installed
# Submission settings for the test cluster; a real site gives its account and partition instead.
SLURM_ARGS = (
    "--profile",
    "profiles/slurm",
    "--slurm-no-account",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",  # a one-node test cluster answers at once; real ones get 10 s
    "2",
)
# Requests that fit any CI machine; resources do not change results.
SMALL_RESOURCES = {
    "resources": {
        "model_stage": {"gpu": 1, "threads": 1, "mem_mb": 2000, "runtime": 20},
        "cpu_stage": {"threads": 1, "mem_mb": 1000, "runtime": 10},
    }
}
LOCAL_RULES = {"build_embedded_model"}
TARGETS = ("subspace_removal__ravel", "streaming_sae__demo_topk")
# Where the targets' tables are, under results/: the instances' runs, the activations they read.
RESULT_FOLDERS = tuple(
    f"results/{folder}"
    for folder in (
        "subspace_removal/ravel/",
        "streaming_sae/demo_topk/",
        "activations/embedded/ravel.",
        "activations/embedded/demo_corpus/",
    )
)


@pytest.fixture(scope="module")
def slurm_cluster():
    already_up = subprocess.run([CLUSTER_SCRIPT, "status"], capture_output=True).returncode == 0
    started = subprocess.run([CLUSTER_SCRIPT, "start"], capture_output=True, text=True, timeout=900)
    if started.returncode == CANNOT_INSTALL and not os.environ.get("CI"):
        pytest.skip(f"no SLURM cluster on this machine: {started.stderr.strip()}")
    assert started.returncode == 0, f"could not start the single-node SLURM cluster:\n{started.stderr}"
    yield
    if not already_up:
        subprocess.run([CLUSTER_SCRIPT, "stop"], check=True, timeout=120)


@dataclass(frozen=True)
class SlurmJob:
    job_id: int
    rule: str
    comment: str  # what the executor names the job by: rule_<rule>_wildcards_<values>
    state: str
    gpu_request: str | None  # e.g. "gres:gpu:1"; None when the job asked for no GPU


def slurm_jobs(workdir: Path) -> dict[int, SlurmJob]:
    """The jobs SLURM still remembers (MinJobAge) that ran in ``workdir``, by job id."""
    shown = subprocess.run(["scontrol", "--oneliner", "show", "job"], capture_output=True, text=True, check=True)
    jobs = {}
    for line in shown.stdout.splitlines():
        fields = dict(re.findall(r"(\S+?)=(\S*)", line))
        if fields.get("WorkDir") != str(workdir):
            continue
        rule = re.match(r"rule_(\w+?)(?:_wildcards_|$)", fields["Comment"]).group(1)
        job_id = int(fields["JobId"])
        jobs[job_id] = SlurmJob(job_id, rule, fields["Comment"], fields["JobState"], fields.get("TresPerJob"))
    return jobs


def wait_for_running(workdir: Path, rules: set[str], process: subprocess.Popen, timeout=600, instance="") -> SlurmJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        running = [
            job
            for job in slurm_jobs(workdir).values()
            if job.state == "RUNNING" and job.rule in rules and f"_wildcards_{instance}" in job.comment
        ]
        if running:
            return running[0]
        time.sleep(0.2)
    raise AssertionError(f"no job of {sorted(rules)} was seen running")


@dataclass(frozen=True)
class ClusterRun:
    workdir: Path
    cancelled: SlurmJob
    interrupted: subprocess.CompletedProcess
    after_interruption: dict[str, int]  # what a dry run scheduled after the cancelled run
    results_after_interruption: set[str]  # files under results/ after the cancelled run
    cancelled_training: SlurmJob  # the corpus SAE's training, cancelled once it had a checkpoint
    completed: subprocess.CompletedProcess
    jobs: dict[int, SlurmJob]  # every SLURM job of the three runs


CHECKPOINT = "results/streaming_sae/demo_topk/embedded/checkpoint.safetensors"


def run_and_cancel(
    workdir: Path, command: list[str], log_name: str, cancel
) -> tuple[SlurmJob, subprocess.CompletedProcess]:
    """Run ``command``; ``cancel(process)`` waits for a job to cancel and returns it; the run then fails."""
    with open(workdir / log_name, "w") as log:
        process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            cancelled = cancel(process)
            subprocess.run(["scancel", str(cancelled.job_id)], check=True)
            process.wait(timeout=900)
        finally:
            if process.poll() is None:
                process.kill()
    return cancelled, subprocess.CompletedProcess(command, process.returncode, (workdir / log_name).read_text())


def training_with_a_checkpoint(workdir: Path, process: subprocess.Popen) -> SlurmJob:
    """The demo_topk training job, once it runs and has saved a checkpoint (it trains for seconds)."""
    job = wait_for_running(workdir, {"streaming_sae_train"}, process, instance="demo_topk")
    deadline = time.monotonic() + 300
    while not (workdir / CHECKPOINT).exists():
        assert process.poll() is None and time.monotonic() < deadline, "the training never saved a checkpoint"
        time.sleep(0.05)
    return job


@pytest.fixture(scope="module")
def cluster_run(slurm_cluster, tmp_path_factory) -> ClusterRun:
    """Three runs: one whose extraction job is cancelled, one whose corpus SAE training job is
    cancelled after a checkpoint, and the run that completes the workflow."""
    workdir = copy_project(tmp_path_factory.mktemp("cluster"))
    (workdir / "small.yaml").write_text(yaml.safe_dump(SMALL_RESOURCES))
    overlays = ("overlays/embedded.yaml", "small.yaml")
    command = [SNAKEMAKE, *TARGETS, "--cores", "2", *SLURM_ARGS, "--configfile", *overlays]
    cancelled, interrupted = run_and_cancel(
        workdir, command, "interrupted.log", lambda process: wait_for_running(workdir, {"extract_activations"}, process)
    )
    jobs = slurm_jobs(workdir)
    results = workdir / "results"
    stored = {path.relative_to(results).as_posix() for path in results.rglob("*") if path.is_file()}
    after_interruption = scheduled_jobs(snakemake(workdir, *TARGETS, "-n", overlays=overlays).stdout)
    cancelled_training, _ = run_and_cancel(
        workdir,
        [*command, "--rerun-incomplete"],
        "training_cancelled.log",
        lambda process: training_with_a_checkpoint(workdir, process),
    )
    jobs |= slurm_jobs(workdir)
    completed = snakemake(workdir, *TARGETS, *SLURM_ARGS, "--rerun-incomplete", overlays=overlays, slurm=True)
    jobs |= slurm_jobs(workdir)
    return ClusterRun(workdir, cancelled, interrupted, after_interruption, stored, cancelled_training, completed, jobs)


def test_cancelled_job_fails_the_run_cleanly(cluster_run):
    assert cluster_run.interrupted.returncode != 0
    assert f"SLURM-job '{cluster_run.cancelled.job_id}' failed" in cluster_run.interrupted.stdout
    assert cluster_run.jobs[cluster_run.cancelled.job_id].state == "CANCELLED"


def test_no_partial_output_is_taken_as_complete(cluster_run):
    text = cluster_run.cancelled.comment.removeprefix("rule_extract_activations_wildcards_embedded_")
    # The cancelled job's outputs were removed (or never moved into place), and the dry run after the
    # failure schedules that extraction again, with everything downstream of it.
    after = cluster_run.results_after_interruption
    assert {name for name in after if name.startswith(f"activations/embedded/{text}.")} == set()
    assert [name for name in after if name.endswith(".tmp")] == []  # atomic writers cleaned up on SIGTERM
    assert cluster_run.after_interruption.get("extract_activations", 0) >= 1


def test_rerun_incomplete_completes_the_workflow(cluster_run, local_run):
    assert "100%) done" in cluster_run.completed.stdout + cluster_run.completed.stderr
    assert scheduled_jobs(snakemake(cluster_run.workdir, *TARGETS, "-n").stdout) == {}
    # the targets' tables, as the local run of the whole overlay wrote them
    made = {name: table for name, table in local_run.tables.items() if name.startswith(RESULT_FOLDERS)}
    assert len(made) >= 10
    assert_same_tables(cluster_run.workdir, made)


def test_every_stage_ran_as_a_slurm_job(cluster_run):
    stages = scheduled_jobs(snakemake(cluster_run.workdir, *TARGETS, "-n", "--forceall").stdout, targets=TARGETS)
    ran = {job.rule for job in cluster_run.jobs.values()}
    assert ran == set(stages) - LOCAL_RULES and len(ran) >= 12
    completed = Counter(job.rule for job in cluster_run.jobs.values() if job.state == "COMPLETED")
    assert completed == {rule: count for rule, count in stages.items() if rule not in LOCAL_RULES}


def test_corpus_shards_were_extracted_as_separate_jobs(cluster_run):
    shards = [job for job in cluster_run.jobs.values() if job.rule == "extract_corpus_shard"]
    assert sorted(job.comment.rsplit("_", 1)[-1] for job in shards) == ["0", "1", "2", "3"]
    assert all(job.state == "COMPLETED" for job in shards)
    trainings = [job for job in cluster_run.jobs.values() if job.rule == "streaming_sae_train"]
    assert min(job.job_id for job in trainings) > max(job.job_id for job in shards)


def test_a_cancelled_training_job_resumes_from_its_checkpoint(cluster_run):
    assert cluster_run.jobs[cluster_run.cancelled_training.job_id].state == "CANCELLED"
    training_log = (cluster_run.workdir / "logs/streaming_sae/demo_topk/embedded/train.log").read_text()
    assert re.search(r"resuming from the checkpoint at step [1-9]\d* of 2000", training_log), training_log
    assert not (cluster_run.workdir / CHECKPOINT).exists()
    # and to the same weights as the local, uninterrupted run: test_rerun_incomplete_completes_the_workflow


def test_model_stages_ask_for_a_gpu_and_cpu_stages_do_not(cluster_run):
    for job in cluster_run.jobs.values():
        if job.rule in MODEL_STAGES:
            assert job.gpu_request == "gres:gpu:1", job
        else:
            assert job.gpu_request is None, job

"""Run the real snakemake on a copy of the project, and read what it scheduled."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tests.conftest import ROOT

PROJECT_PARTS = [
    "Snakefile",
    "config.yaml",
    "rules",
    "scripts",
    "src",
    "schemas",
    "resources",
    "overlays",
    "envs",
    "profiles",
    "report",
]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# Stages that run a model and so ask for a GPU; every other stage is statistics or plotting.
MODEL_STAGES = {
    "extract_activations",
    "subspace_removal_interventions",
    "sparse_autoencoder_train",
    "extract_corpus_shard",
    "streaming_sae_train",
    "streaming_sae_evaluate",
    "streaming_sae_logit_tokens",
    "activation_patching_patch",
    "logit_lens_lens",
    "direct_logit_attribution_attribute",
    "attribution_patching_estimate",
    "edge_attribution_patching_edges",
}
# Jobs that are not stages of an instance: the default target, and the record of the config a run
# read (rewritten, instantly and locally, whenever the config changes).
BOOKKEEPING = ("all", "resolved_config")
# The umask every test run of snakemake has: a group-shared one, as on a cluster's shared file system,
# so that the shared run itself shows every file the workflow writes following it (test_file_modes.py).
UMASK = 0o002
JOB_HEADER = re.compile(r"^(?:local)?rule (\w+):$", flags=re.M)


@dataclass(frozen=True)
class LocalRun:
    """A project folder after a complete local run, with its tables as that run wrote them."""

    workdir: Path
    tables: dict[str, pd.DataFrame]


def copy_project(destination: Path) -> Path:
    """A fresh copy of the workflow (no results, models or caches) in ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, destination / part)
    return destination


def copy_run(workdir: Path, destination: Path) -> Path:
    """A copy of a finished run in ``workdir``: the project, its models, results and logs, and Snakemake's
    records of how each output was made (not its locks or caches), so the copy schedules what the run would."""
    shutil.copytree(workdir, destination, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    shutil.copytree(workdir / ".snakemake" / "metadata", destination / ".snakemake" / "metadata")
    return destination


def snakemake(workdir: Path, *args: str, overlays=("overlays/embedded.yaml",), env=None, check=True, slurm=False):
    """Run snakemake in ``workdir`` on the embedded overlay, under :data:`UMASK`; returns the completed process.

    Local runs (``slurm=False``) get an empty SLURM_CONF: where a SLURM client is installed but no
    controller answers, the SLURM executor plugin otherwise waits ~9 s for ``scontrol`` at every start.
    """
    command = [SNAKEMAKE, "--cores", "2", *args, *(["--configfile", *overlays] if overlays else [])]
    environment = {**os.environ, **({} if slurm else {"SLURM_CONF": os.devnull}), **(env or {})}
    result = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, env=environment, timeout=900, umask=UMASK
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def scheduled_jobs(output: str, targets=BOOKKEEPING) -> dict[str, int]:
    """Job counts from snakemake's "Job stats" table, without the target and bookkeeping rules (empty:
    nothing to do)."""
    match = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal", output, flags=re.S)
    if not match:
        return {}
    counts = (line.split() for line in match.group(1).splitlines())
    return {name: int(count) for name, count in counts if name not in targets}


def job_blocks(output: str) -> dict[str, str]:
    """``rule name -> its block of lines`` from a dry run's job listing."""
    blocks = {}
    for block in re.split(r"\n(?=\[.*\d{4}\]\n)", output):
        found = JOB_HEADER.search(block)
        if found:
            blocks[found.group(1)] = block
    return blocks


def scheduled_runs(output: str) -> set[tuple[str, str]]:
    """``(rule, instance)`` of every job in a dry run's listing (instance ``""`` for jobs of no instance),
    without the target and bookkeeping rules."""
    runs = set()
    for block in re.split(r"\n(?=\[.*\d{4}\]\n)", output):
        found = JOB_HEADER.search(block)
        if found and found.group(1) not in BOOKKEEPING:
            instance = re.search(r"wildcards:.*\binstance=([^,\s]+)", block)  # a sweep's point has - and =
            runs.add((found.group(1), instance.group(1) if instance else ""))
    return runs


def parquet_tables(workdir: Path) -> dict[str, pd.DataFrame]:
    """Every Parquet table under ``results/``, by path relative to ``workdir``."""
    return {
        path.relative_to(workdir).as_posix(): pd.read_parquet(path)
        for path in sorted((workdir / "results").rglob("*.parquet"))
    }


def assert_same_tables(workdir: Path, expected: dict[str, pd.DataFrame]) -> None:
    """The Parquet tables under ``workdir/results`` are exactly ``expected`` (same files, same values)."""
    found = parquet_tables(workdir)
    assert sorted(found) == sorted(expected)
    for name, table in expected.items():
        pd.testing.assert_frame_equal(found[name], table, check_exact=True, obj=name)

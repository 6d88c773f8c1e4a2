"""Stages: their usage line (wall time and peak memory, read by the benchmarks) and their thread count."""

import json
import os
import subprocess
import sys

from interpflow.runtime.stage_logging import stage_usage

STAGE = """
import time
import numpy as np
time.sleep(0.5)  # slow imports
from interpflow.runtime.stage_logging import log_to
log = log_to({log!r})
log.info("working")
block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
"""


def test_usage_line_has_wall_time_and_peak_memory(tmp_path):
    log = tmp_path / "stage.log"
    subprocess.run([sys.executable, "-c", STAGE.format(log=str(log))], check=True, timeout=60)
    usage = stage_usage(log)
    assert usage is not None and 0 < usage["wall_s"] < 60
    assert 0.5 <= usage["start_up_s"] < usage["wall_s"]
    assert 300 <= usage["peak_rss_mib"] < 2000
    assert log.read_text().splitlines()[-1].endswith(f"peak RSS {usage['peak_rss_mib']:.0f} MiB")


def test_unfinished_stage_has_no_usage(tmp_path):
    log = tmp_path / "stage.log"
    log.write_text("2026-01-01 INFO interpflow.stage: working\n")
    assert stage_usage(log) is None


def test_peak_is_the_stage_own_not_its_parents(tmp_path):
    """Launched by a process that peaked at 800 MiB (as snakemake may), the stage still reports its own."""
    log = tmp_path / "stage.log"
    parent = f"""
import subprocess, sys
import numpy as np
big = np.ones(800 * 2**20 // 8)
subprocess.run([sys.executable, "-c", {STAGE.format(log=str(log))!r}], check=True)
"""
    subprocess.run([sys.executable, "-c", parent], check=True, timeout=60)
    assert 300 <= stage_usage(log)["peak_rss_mib"] < 700


THREADS = """
import json, torch, sklearn.cluster
from threadpoolctl import threadpool_info
from interpflow.runtime.stage_logging import compute_on_threads
before = {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}
compute_on_threads(1)
after = {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}
print(json.dumps({"before": before, "after": after, "torch": torch.get_num_threads()}))
"""


def test_a_stage_computes_on_its_declared_threads_whatever_the_machine():
    """BLAS, OpenMP and torch all take the rule's thread count (here 1 on a machine with more CPUs)."""
    assert len(os.sched_getaffinity(0)) >= 2, "needs a machine with two CPUs to tell the limit from the default"
    pools = json.loads(subprocess.run([sys.executable, "-c", THREADS], check=True, capture_output=True).stdout)
    assert {"openmp", "mkl"} <= set(pools["after"]) or {"openmp", "openblas"} <= set(pools["after"])
    assert max(pools["before"].values()) >= 2
    assert set(pools["after"].values()) == {1} and pools["torch"] == 1

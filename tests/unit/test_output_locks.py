"""One writer per output: the OS lock each stage holds on its outputs (interpflow.output_locks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from interpflow.runtime import output_locks
from interpflow.runtime.output_locks import Holder, OutputsBeingWritten, hold, lock_file, writers

HOLD_THEN_WAIT = """
import sys, time
from interpflow.runtime.output_locks import hold
hold(sys.argv[1:], rule="train")
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """A working folder of its own, and no locks held by this process afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(output_locks, "PATIENCE_S", 0.2)
    yield tmp_path
    while output_locks._held:
        os.close(output_locks._held.pop())


def holding(*outputs: str) -> subprocess.Popen:
    """Another process that locks ``outputs`` and waits; returns once it holds them."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_THEN_WAIT, *outputs], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_the_lock_file_mirrors_the_output_path_under_the_lock_folder(in_tmp):
    assert lock_file("results/a/sae.safetensors") == Path(".interpflow/locks/results/a/sae.safetensors.lock")
    assert lock_file(in_tmp / "models" / "embedded") == Path(".interpflow/locks/models/embedded.lock")
    assert lock_file("/elsewhere/x.parquet") == Path(".interpflow/locks/_absolute/elsewhere/x.parquet.lock")


def test_a_held_output_is_refused_with_its_holder_and_freed_when_the_holder_is_killed(in_tmp):
    other = holding("results/a.parquet", "results/b.parquet")
    try:
        busy = writers(["results/a.parquet", "results/b.parquet", "results/c.parquet"])
        assert sorted(busy) == ["results/a.parquet", "results/b.parquet"]
        assert busy["results/a.parquet"] == Holder(
            "train",
            other.pid,
            busy["results/a.parquet"].host,
            busy["results/a.parquet"].user,
            busy["results/a.parquet"].since,
        )
        with pytest.raises(OutputsBeingWritten) as refused:
            hold(["results/c.parquet", "results/a.parquet"], rule="train")
        message = str(refused.value)
        assert f"results/a.parquet: rule train, process {other.pid} on" in message
        assert "nothing to unlock" in message
        assert output_locks._held == []  # all or none: c was let go again
        assert writers(["results/c.parquet"]) == {}
    finally:
        os.killpg(other.pid, signal.SIGKILL)  # no cleanup runs: the kernel releases the lock
        other.wait()
    assert writers(["results/a.parquet", "results/b.parquet"]) == {}
    hold(["results/a.parquet", "results/b.parquet"], rule="train")  # free again, with no unlock step
    assert len(output_locks._held) == 2


def test_a_stage_waits_out_a_momentary_look_at_its_lock(in_tmp, monkeypatch):
    """writers() takes a shared lock for an instant; a stage starting at that instant must not be refused
    (with no patience, hold() would raise here)."""
    monkeypatch.setattr(output_locks, "PATIENCE_S", 30.0)
    path = lock_file("results/a.parquet")
    path.parent.mkdir(parents=True)
    path.touch()
    looker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import fcntl, time; f = open({str(path)!r}); fcntl.flock(f, fcntl.LOCK_SH); print('on', flush=True); "
            "time.sleep(0.1)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert looker.stdout.readline().strip() == "on"
    hold(["results/a.parquet"], rule="train")
    assert looker.wait() == 0 and len(output_locks._held) == 1


def test_the_holder_record_of_another_version_still_gives_a_refusal(in_tmp):
    path = lock_file("results/a.parquet")
    path.parent.mkdir(parents=True)
    path.write_text("not json\n")
    other = holding("results/a.parquet")
    try:
        path.write_text("not json\n")  # as if written by a writer that records something else
        with pytest.raises(OutputsBeingWritten, match="a process that has not said who it is"):
            hold(["results/a.parquet"], rule="train")
    finally:
        os.killpg(other.pid, signal.SIGKILL)
        other.wait()

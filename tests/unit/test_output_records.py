"""Each output's own hash: recorded by the atomic writers while a stage runs, and the check that tells a
damaged output from an intact one (a truncation, an edit of the same size, a folder missing a file) without
hashing what did not change."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pandas as pd
import pytest

from interpflow.runtime import atomic_io, output_records, provenance


@pytest.fixture
def stage(tmp_path, monkeypatch):
    """A working folder in which a stage of rule ``make_it`` is recording its outputs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(output_records, "_rule", None)
    output_records.start_recording("make_it")
    yield tmp_path
    output_records._rule = None


def test_a_written_output_is_recorded_with_its_size_time_and_sha256(stage):
    atomic_io.write_parquet(pd.DataFrame({"x": [1.0, 2.0]}), "results/table.parquet")
    entry = json.loads((stage / ".interpflow/outputs/results/table.parquet.json").read_text())
    data = (stage / "results/table.parquet").read_bytes()
    assert entry["output"] == "results/table.parquet" and entry["rule"] == "make_it"
    assert entry["files"][""]["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["files"][""]["size"] == len(data)
    assert output_records.damaged_outputs() == []


def test_nothing_is_recorded_outside_a_stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(output_records, "_rule", None)
    atomic_io.write_text("x", "results/note.txt")
    assert not (tmp_path / ".interpflow").exists()


def test_a_truncated_file_is_damaged_by_its_size_alone(stage):
    atomic_io.write_safetensors({"w": np.arange(1000, dtype=np.float32)}, "results/w.safetensors")
    os.truncate("results/w.safetensors", 100)
    (damage,) = output_records.damaged_outputs()
    assert damage.output == "results/w.safetensors" and damage.rule == "make_it"
    assert damage.reason.startswith("100 bytes, ") and damage.reason.endswith(" when written")


def test_an_edit_of_the_same_size_is_found_by_its_hash_and_a_touch_is_not_damage(stage):
    atomic_io.write_text("abcdef", "results/a.txt")
    os.utime("results/a.txt", ns=(1, 1))  # a copy that did not keep the time: the hash decides
    assert output_records.damaged_outputs() == []
    entry = json.loads((stage / ".interpflow/outputs/results/a.txt.json").read_text())
    assert entry["files"][""]["mtime_ns"] == 1  # the same bytes: checked by stat from now on
    with open("results/a.txt", "r+") as handle:
        handle.write("X")
    (damage,) = output_records.damaged_outputs()
    assert "sha256 differs" in damage.reason


def test_an_edit_that_keeps_size_and_time_is_found_by_the_full_check_only(stage):
    atomic_io.write_text("abcdef", "results/a.txt")
    times = os.stat("results/a.txt")
    with open("results/a.txt", "r+") as handle:
        handle.write("X")
    os.utime("results/a.txt", ns=(times.st_atime_ns, times.st_mtime_ns))
    assert output_records.damaged_outputs() == []  # the start-up check trusts size and time
    assert len(output_records.damaged_outputs(full=True)) == 1  # verify hashes everything


def test_a_folder_output_records_each_file_and_a_missing_one_is_damage(stage):
    with atomic_io.atomic_directory("results/saelens") as folder:
        (folder / "cfg.json").write_text("{}")
        atomic_io.write_text("weights", folder / "sae_weights.safetensors")  # inside a temporary: no record of its own
    records = [path.as_posix() for path in output_records.records()]
    assert records == [".interpflow/outputs/results/saelens.json"]
    (stage / "results/saelens/cfg.json").unlink()
    (damage,) = output_records.damaged_outputs()
    assert damage.reason == "cfg.json: missing from the folder"


def test_a_damaged_output_is_set_aside_and_a_missing_one_left_to_snakemake(stage):
    atomic_io.write_text("abcdef", "results/a.txt")
    atomic_io.write_text("ghijkl", "results/b.txt")
    os.unlink("results/b.txt")
    os.truncate("results/a.txt", 2)
    ((damage, aside),) = output_records.set_aside_damaged_outputs()
    assert damage.output == "results/a.txt" and aside.name == "a.txt.damaged"
    assert not (stage / "results/a.txt").exists() and aside.read_text() == "ab"
    (pending,) = output_records.damaged_outputs()  # marked by its .damaged copy until it is rebuilt
    assert pending.reason == "set aside as a.txt.damaged, not yet rebuilt"
    atomic_io.write_text("abcdef", "results/a.txt")  # the rebuild
    assert output_records.damaged_outputs() == []  # and b, missing without a .damaged copy, is Snakemake's


def test_a_stage_refuses_a_damaged_input(stage):
    atomic_io.write_text("abcdef", "results/a.txt")
    os.truncate("results/a.txt", 3)
    (damage,) = output_records.damaged_inputs(["results/a.txt", "resources/never_recorded.txt"])
    assert "snakemake --forcerun make_it" in damage.rebuild()


def test_verify_lists_an_unreadable_file_and_a_damaged_one_instead_of_raising(stage):
    atomic_io.write_parquet(pd.DataFrame({"x": [1.0]}), "results/t.parquet")
    os.truncate("results/t.parquet", 10)
    (stage / "results/garbage.safetensors").write_bytes(b"\x00" * 12)  # no record, not a safetensors file
    problems = provenance.verify(stage / "results", stage)
    assert any(
        p.endswith("results/t.parquet: not what rule make_it wrote: 10 bytes, " + p.split(", ")[-1]) for p in problems
    )
    assert any("t.parquet: cannot be read (" in p for p in problems)
    assert any("garbage.safetensors: cannot be read (" in p for p in problems)


def test_the_outputs_made_from_a_damaged_one_are_dated_back_so_its_job_reruns(stage):
    """A missing intermediate reruns nothing whose outputs exist: its readers' outputs are made older than
    their inputs, so Snakemake reruns them, and with them the job that makes the missing file."""
    atomic_io.write_text("abcdef", "results/a.txt")
    output_records.start_recording("read_it", ["results/a.txt", "resources/text.txt"])
    atomic_io.write_text("from a", "results/b.txt")
    output_records.start_recording("read_b", ["results/b.txt"])
    atomic_io.write_text("from b", "results/c.txt")
    os.truncate("results/a.txt", 1)
    output_records.set_aside_damaged_outputs()
    assert os.stat("results/b.txt").st_mtime_ns == 0  # read a: dated back
    assert os.stat("results/c.txt").st_mtime_ns != 0  # read b: Snakemake reruns it once b is remade
    assert output_records.damaged_outputs()[0].output == "results/a.txt"  # until a is rebuilt

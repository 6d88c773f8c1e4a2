"""Provenance: stored in Parquet and safetensors files, read back, and verified against what is at hand."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from interpflow.runtime import atomic_io, provenance
from interpflow.runtime.model_records import read_model_record


@pytest.fixture
def recording():
    """Writers store a record while the test runs, as in a stage after start_stage."""

    def use(record):
        atomic_io.set_provenance(provenance.encode(record))

    yield use
    atomic_io.set_provenance(None)


def record_for(model_folder=None, **packages) -> dict:
    record = {
        "interpflow": {"version": "0.1.0", "commit": None, "dirty": None},
        "packages": {**provenance.package_versions(), **packages},
        "stage": {"rule": "r", "wildcards": {}, "params": {"alpha": 0.05}},
        "inputs": {},
    }
    if model_folder is not None:
        record["model"] = provenance.model_identity("tiny", model_folder)
    return record


def test_tables_and_tensors_carry_the_record_and_read_it_back(tmp_path, recording):
    record = record_for()
    recording(record)
    atomic_io.write_parquet(pd.DataFrame({"x": [1.0, 2.0]}), tmp_path / "t.parquet")
    atomic_io.write_safetensors({"a": np.ones(2, np.float32)}, tmp_path / "a.safetensors", metadata={"text": "t"})
    assert provenance.read(tmp_path / "t.parquet") == record == provenance.read(tmp_path / "a.safetensors")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), pd.DataFrame({"x": [1.0, 2.0]}))
    from safetensors import safe_open

    with safe_open(str(tmp_path / "a.safetensors"), "numpy") as handle:
        assert handle.metadata()["text"] == "t"  # the file's own metadata stays


def test_the_same_record_gives_the_same_bytes(tmp_path, recording):
    recording(record_for())
    for name in ("one", "two"):
        atomic_io.write_parquet(pd.DataFrame({"x": [1.0]}), tmp_path / f"{name}.parquet")
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "two.parquet").read_bytes()


def test_without_a_stage_nothing_is_recorded(tmp_path):
    atomic_io.write_parquet(pd.DataFrame({"x": [1]}), tmp_path / "t.parquet")
    assert provenance.read(tmp_path / "t.parquet") is None


def test_verify_lists_a_changed_package_and_a_changed_weight_byte(tmp_path, recording, tiny_model_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_model_dir, "models/tiny")
    results = tmp_path / "results"
    recording(record_for("models/tiny"))
    atomic_io.write_parquet(pd.DataFrame({"x": [1]}), results / "clean.parquet")
    assert provenance.verify(results, tmp_path) == []
    recording(record_for("models/tiny", numpy="1.0.0"))
    atomic_io.write_parquet(pd.DataFrame({"x": [1]}), results / "old_numpy.parquet")
    problems = provenance.verify(results, tmp_path)
    assert problems == [f"{results / 'old_numpy.parquet'}: numpy 1.0.0 recorded, {np.__version__} installed"]
    weights = tmp_path / "models/tiny/model.safetensors"
    content = bytearray(weights.read_bytes())
    content[-1] ^= 1
    weights.write_bytes(bytes(content))
    problems = provenance.verify(results, tmp_path)
    assert sum("model 'tiny' weights" in problem for problem in problems) == 2  # both files name the model
    assert sum("numpy 1.0.0 recorded" in problem for problem in problems) == 1


def test_model_identity_comes_from_the_folder_record(tiny_model_dir):
    identity = provenance.model_identity("tiny", tiny_model_dir)
    assert identity["source"] == "embedded"
    assert identity["weights_sha256"] == read_model_record(tiny_model_dir)["weights_sha256"]


def test_the_command_prints_a_record(tmp_path, recording, capsys):
    recording(record_for())
    atomic_io.write_parquet(pd.DataFrame({"x": [1]}), tmp_path / "t.parquet")
    assert provenance.main([str(tmp_path / "t.parquet")]) == 0
    assert json.loads(capsys.readouterr().out)["stage"]["params"] == {"alpha": 0.05}
    assert provenance.main(["verify", str(tmp_path)]) == 0
    assert "0 mismatch(es)" in capsys.readouterr().out

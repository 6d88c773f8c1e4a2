"""Model provisioning and loading: embedded builds are reproducible; hub errors say the way out."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from interpflow.models.loading import MODEL_RECORD, build_embedded_model, load_model, read_model_record
from tests.conftest import TINY_SPEC, TOKENIZER_DIR


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_vendored_tokenizer_is_the_gpt2_tokenizer():
    # The hashes published with the tokenizer files (resources/gpt2-tokenizer/README.md).
    assert sha256(TOKENIZER_DIR / "vocab.json") == "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
    assert sha256(TOKENIZER_DIR / "merges.txt") == "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"


def test_embedded_build_is_byte_identical(tiny_model_dir, tmp_path):
    again = build_embedded_model(TINY_SPEC, TOKENIZER_DIR, tmp_path / "again")
    assert sha256(again / "model.safetensors") == sha256(tiny_model_dir / "model.safetensors")
    other_seed = build_embedded_model({**TINY_SPEC, "seed": TINY_SPEC["seed"] + 1}, TOKENIZER_DIR, tmp_path / "other")
    assert sha256(other_seed / "model.safetensors") != sha256(tiny_model_dir / "model.safetensors")


def test_loaded_model_is_in_eval_mode_with_gpt2_tokenizer(tiny_model):
    model, tokenizer = tiny_model
    assert not model.training
    assert all(not module.training for module in model.modules())
    assert model.config.n_layer == TINY_SPEC["n_layer"]
    # transformers 5 ignores add_prefix_space: words are encoded with their leading space.
    assert tokenizer.encode(" Hungary") == [19562]
    assert tokenizer.encode(" coffee") == [6891]
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == 50256


def test_declared_layer_count_is_checked(tiny_model_dir):
    with pytest.raises(ValueError, match="declares n_layer 12 but the model has 3"):
        load_model(tiny_model_dir, "cpu", n_layer=12)


def provision_in_subprocess(name, hub_id, out_dir, hf_home, revision=None):
    """Provision as a workflow job does: a fresh process that reads HF_HOME / HF_HUB_OFFLINE at start."""
    code = (
        "import logging, sys; logging.basicConfig(); from interpflow.models.loading import provision_hub_model; "
        "provision_hub_model(*sys.argv[1:])"
    )
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    revision_arg = [revision] if revision else []
    return subprocess.run(
        [sys.executable, "-c", code, name, hub_id, str(out_dir), *revision_arg], env=env, capture_output=True, text=True
    )


def test_unreachable_hub_names_model_and_three_ways_out(tmp_path):
    result = provision_in_subprocess(
        "gpt2-xl", "openai-community/gpt2-xl", tmp_path / "models" / "gpt2-xl", tmp_path / "empty"
    )
    assert result.returncode != 0
    assert "ModelUnavailableError" in result.stderr
    message = result.stderr
    assert "model 'gpt2-xl' (openai-community/gpt2-xl) is not available" in message
    assert "huggingface-cli download openai-community/gpt2-xl" in message
    assert "source: local" in message
    assert "overlays/embedded.yaml" in message
    assert not (tmp_path / "models" / "gpt2-xl").exists()


def fake_hub_cache(hf_home, repo_id, model_dir, revision="0" * 40, ref="main"):
    """Lay out ``model_dir``'s files as the Hugging Face cache stores a downloaded repo at ``revision``."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / ref).write_text(revision)
    for path in model_dir.iterdir():
        if path.name != MODEL_RECORD:
            shutil.copyfile(path, snapshot / path.name)
    (snapshot / "pytorch_model.bin").write_bytes(b"pickled weights are never copied")
    return snapshot


def test_hub_model_is_provisioned_from_the_cache_offline(tiny_model_dir, tmp_path):
    fake_hub_cache(tmp_path / "hf", "openai-community/gpt2", tiny_model_dir)
    folder = tmp_path / "models" / "gpt2"
    result = provision_in_subprocess("gpt2", "openai-community/gpt2", folder, tmp_path / "hf")
    assert result.returncode == 0, result.stderr
    assert (folder / "model.safetensors").is_file()
    assert not (folder / "pytorch_model.bin").exists()
    model, tokenizer = load_model(folder, "cpu", n_layer=TINY_SPEC["n_layer"])
    assert tokenizer.encode(" Hungary") == [19562]


def test_a_pinned_revision_is_provisioned_and_recorded(tiny_model_dir, tmp_path):
    """Two commits in the cache: the one the config names is copied, and the folder says which."""
    main, tagged = "a" * 40, "b" * 40
    fake_hub_cache(tmp_path / "hf", "org/model", tiny_model_dir, revision=main)
    other = fake_hub_cache(tmp_path / "hf", "org/model", tiny_model_dir, revision=tagged, ref="v1")
    (other / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes()[:-1] + b"\x00")
    for revision, commit in ((tagged, tagged), ("v1", tagged), (None, main)):
        folder = tmp_path / "models" / f"m-{revision}"
        result = provision_in_subprocess("model", "org/model", folder, tmp_path / "hf", revision)
        assert result.returncode == 0, result.stderr
        record = json.loads((folder / MODEL_RECORD).read_text())
        assert (record["hub_id"], record["revision"], record["commit"]) == ("org/model", revision, commit)
        source = tmp_path / "hf" / "hub" / "models--org--model" / "snapshots" / commit / "model.safetensors"
        assert record["files"]["model.safetensors"] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert (folder / "model.safetensors").read_bytes() == source.read_bytes()
        assert set(record["files"]) == {p.name for p in folder.iterdir() if p.name != MODEL_RECORD}
        # a branch or tag is resolved and recorded as its commit, but is no pin: the same warning
        assert ("is not pinned" in result.stderr) == (revision != tagged), revision
        assert ("the branch or tag 'v1'" in result.stderr) == (revision == "v1")
    unknown = provision_in_subprocess("model", "org/model", tmp_path / "models" / "x", tmp_path / "hf", "c" * 40)
    assert unknown.returncode != 0 and f"at revision '{'c' * 40}'" in unknown.stderr


def test_the_embedded_and_local_models_record_their_weights_hash(tiny_model_dir, tmp_path):
    record = read_model_record(tiny_model_dir)
    weights = hashlib.sha256((tiny_model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert record["source"] == "embedded" and record["files"]["model.safetensors"] == weights
    local = tmp_path / "local"
    shutil.copytree(tiny_model_dir, local, ignore=shutil.ignore_patterns(MODEL_RECORD))
    assert read_model_record(local)["weights_sha256"] == record["weights_sha256"]  # computed for a local folder
    (local / "model.safetensors").write_bytes((local / "model.safetensors").read_bytes()[:-1] + b"\x01")
    assert read_model_record(local)["weights_sha256"] != record["weights_sha256"]

"""The activation store: batched extraction, padding never stored, lossless round trip, atomic writes."""

import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from interpflow.runtime.atomic_io import atomic_path, write_parquet
from interpflow.stores.activation_store import TOKEN_COLUMNS, ActivationStore, load_store, save_store, store_metadata
from interpflow.stores.extraction import extract_activations

TEXTS = [
    "I saw him at the market.",
    "The committee nominated him for the award.",
    "Hi.",
    "She drove her to the airport.",
]
SITES = [
    "blocks.0.hook_resid_pre",
    "ln_final.hook_normalized",
    "ln_final.output",
    "blocks.1.attn.hook_q",
    "blocks.1.attn.hook_z",
    "blocks.1.hook_resid_mid",
    "blocks.1.mlp.hook_pre",
    "blocks.2.hook_attn_out",
    "blocks.2.hook_mlp_out",
]


@pytest.fixture(scope="module")
def batched_store(tiny_model):
    model, tokenizer = tiny_model
    return extract_activations(model, tokenizer, TEXTS, SITES, batch_size=3)


def test_token_table_has_real_tokens_only(batched_store, tiny_model):
    _, tokenizer = tiny_model
    tokens = batched_store.tokens
    assert list(tokens.columns) == TOKEN_COLUMNS
    assert len(tokens) == sum(len(tokenizer.encode(text)) for text in TEXTS)
    for text_id, text in enumerate(TEXTS):
        rows = tokens.iloc[batched_store.text_rows(text_id)]
        assert rows["token_id"].tolist() == tokenizer.encode(text)
        assert rows["position"].tolist() == list(range(len(rows)))
        assert "".join(rows["token"]) == text


def test_padded_batches_equal_one_text_at_a_time(batched_store, tiny_model):
    model, tokenizer = tiny_model
    for text_id, text in enumerate(TEXTS):
        single = extract_activations(model, tokenizer, [text], SITES, batch_size=1)
        rows = batched_store.text_rows(text_id)
        for site in SITES:
            np.testing.assert_allclose(batched_store[site][rows], single[site], atol=1e-5, rtol=0, err_msg=site)


def test_widths(batched_store, tiny_model):
    width = tiny_model[0].config.n_embd
    assert batched_store["blocks.1.mlp.hook_pre"].shape[1] == 4 * width
    assert batched_store["ln_final.hook_normalized"].shape[1] == width
    assert batched_store["blocks.1.attn.hook_z"].shape[1:] == (4, width // 4)
    assert batched_store["blocks.1.mlp.hook_pre"].dtype == np.float32


def test_patterns_of_padded_batches_equal_one_text_at_a_time(tiny_model):
    """The key axis spans the longest text; each token's row is its own text's pattern, zero beyond."""
    model, tokenizer = tiny_model
    site = "blocks.2.attn.hook_pattern"
    batched = extract_activations(model, tokenizer, TEXTS, [site], batch_size=3)
    longest = max(len(tokenizer.encode(text)) for text in TEXTS)
    assert batched[site].shape[1:] == (4, longest)
    for text_id, text in enumerate(TEXTS):
        single = extract_activations(model, tokenizer, [text], [site], batch_size=1)[site]
        rows = batched[site][batched.text_rows(text_id)]
        np.testing.assert_allclose(rows[..., : single.shape[-1]], single, atol=1e-6, rtol=0)
        assert not rows[..., single.shape[-1] :].any()


def test_round_trip_is_lossless(batched_store, tmp_path):
    save_store(batched_store, tmp_path / "s.safetensors", tmp_path / "s.tokens.parquet", {"model": "tiny"})
    loaded = load_store(tmp_path / "s.safetensors", tmp_path / "s.tokens.parquet")
    assert loaded.sites == sorted(SITES)
    assert store_metadata(tmp_path / "s.safetensors") == {"model": "tiny", "sites": sorted(SITES)}
    pd.testing.assert_frame_equal(loaded.tokens, batched_store.tokens)
    for site in SITES:
        np.testing.assert_array_equal(loaded[site], batched_store[site])
    partial = load_store(tmp_path / "s.safetensors", tmp_path / "s.tokens.parquet", sites=["blocks.1.mlp.hook_pre"])
    assert partial.sites == ["blocks.1.mlp.hook_pre"]
    with pytest.raises(KeyError, match="lacks sites"):
        load_store(tmp_path / "s.safetensors", tmp_path / "s.tokens.parquet", sites=["blocks.0.mlp.hook_pre"])


def test_missing_site_error_names_what_is_there(batched_store):
    with pytest.raises(KeyError, match="not in the store"):
        batched_store["blocks.0.mlp.hook_pre"]


def test_misaligned_arrays_are_rejected():
    tokens = pd.DataFrame({"text_id": [0, 0], "position": [0, 1], "token_id": [1, 2], "token": ["a", "b"]})
    with pytest.raises(ValueError, match="3 rows, but the token table has 2"):
        ActivationStore(tokens=tokens, arrays={"blocks.0.hook_resid_pre": np.zeros((3, 4), np.float32)})


def test_interrupted_write_leaves_no_output(tmp_path):
    target = tmp_path / "table.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a parquet file")
            raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []
    write_parquet(pd.DataFrame({"a": [1]}), target)
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_sigterm_mid_write_leaves_no_output(tmp_path):
    """What ``scancel`` does to a running stage: the write is abandoned and its temporary file removed."""
    stage = f"""
import os, signal, sys
from pathlib import Path
from interpflow.runtime.atomic_io import atomic_path, exit_on_sigterm
exit_on_sigterm()
with atomic_path(Path({str(tmp_path / "table.parquet")!r})) as tmp:
    tmp.write_bytes(b"half a parquet file")
    os.kill(os.getpid(), signal.SIGTERM)
    signal.pause()
"""
    result = subprocess.run([sys.executable, "-c", stage], capture_output=True, text=True, timeout=60)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert list(tmp_path.iterdir()) == []


WRITE_TWO_KEYS = """
import sys
import numpy as np
from interpflow.runtime.atomic_io import write_safetensors
write_safetensors({"b": np.arange(3, dtype=np.float32), "a": np.ones(2, np.float32)}, sys.argv[1],
                  metadata={"zeta": "1", "alpha": "2", "mid": "é"})
"""


def test_safetensors_bytes_do_not_depend_on_the_process(tmp_path):
    """safetensors orders its metadata as a Rust hash map does, anew in each process; the writer sorts it."""
    import subprocess
    import sys

    from safetensors.numpy import load_file

    paths = [tmp_path / f"{i}.safetensors" for i in range(8)]
    for path in paths:
        subprocess.run([sys.executable, "-c", WRITE_TWO_KEYS, str(path)], check=True)
    assert len({path.read_bytes() for path in paths}) == 1
    assert load_file(paths[0])["b"].tolist() == [0.0, 1.0, 2.0]
    from safetensors import safe_open

    with safe_open(str(paths[0]), "numpy") as handle:
        assert handle.metadata() == {"zeta": "1", "alpha": "2", "mid": "é"}


def test_the_store_written_a_batch_at_a_time_is_the_store_held_in_memory(batched_store, tiny_model, tmp_path):
    """extract_to_files (the workflow's stage) writes exactly what extract_activations + save_store would,
    padded attention patterns included, readable by safetensors itself."""
    from interpflow.stores.extraction import extract_to_files

    model, tokenizer = tiny_model
    sites = [*SITES, "blocks.1.attn.hook_pattern", "blocks.0.attn.hook_k"]
    in_memory = extract_activations(model, tokenizer, TEXTS, sites, batch_size=3)
    save_store(in_memory, tmp_path / "a.safetensors", tmp_path / "a.tokens.parquet", {"model": "tiny"})
    n_tokens = extract_to_files(
        model, tokenizer, TEXTS, sites, tmp_path / "b.safetensors", tmp_path / "b.tokens.parquet", {"model": "tiny"}, 3
    )
    assert n_tokens == len(in_memory.tokens)
    streamed = load_store(tmp_path / "b.safetensors", tmp_path / "b.tokens.parquet")
    assert streamed.sites == in_memory.sites
    for site in sites:
        np.testing.assert_array_equal(streamed[site], in_memory[site], err_msg=site)
    longest = max(len(tokenizer.encode(text)) for text in TEXTS)
    assert streamed["blocks.1.attn.hook_pattern"].shape[-1] == longest  # batch 2 (one short text) was padded
    pd.testing.assert_frame_equal(streamed.tokens, in_memory.tokens)
    assert store_metadata(tmp_path / "b.safetensors") == store_metadata(tmp_path / "a.safetensors")

"""The sharded store: shards of the token table, extraction against a plain forward pass, the manifest."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from interpflow.models.hooks import capture
from interpflow.runtime.model_records import sha256_of_file
from interpflow.stores.corpus import windows
from interpflow.stores.corpus_store import CorpusStore, shard_windows
from interpflow.stores.shard_extraction import extract_shard
from tests.conftest import TINY_CORPUS_SITES


def test_window_w_is_in_shard_w_mod_n_in_stream_order(tiny_corpus, tiny_model):
    corpus, folder = tiny_corpus
    every = [window.tolist() for window in windows(corpus, tiny_model[1])]
    table = pd.read_parquet(folder / "tokens.parquet")
    assert list(table.columns) == ["shard", "window", "position", "token_id"]
    for shard in range(4):
        rows = table[table["shard"] == shard].sort_values(["window", "position"])
        stored = rows["token_id"].to_numpy().reshape(-1, 16).tolist()
        assert stored == every[shard::4]
        count, blocks = shard_windows(folder / "tokens.parquet", shard, 16)
        assert count == len(stored) and np.concatenate(list(blocks)).tolist() == stored


def test_shards_hold_what_a_plain_forward_pass_gives(tiny_corpus, tiny_model):
    corpus, folder = tiny_corpus
    store = CorpusStore(folder / "manifest.json")
    model = tiny_model[0]
    for shard in range(4):
        ids = store.token_ids(shard, np.arange(store.windows(shard))).long()
        with torch.no_grad(), capture(model, TINY_CORPUS_SITES) as captured:
            model(input_ids=ids)  # one batch, the whole model and its LM head: no early stop
        for site in TINY_CORPUS_SITES:
            stored = store.activations(site, shard, np.arange(store.windows(shard)))
            torch.testing.assert_close(stored, captured[site], rtol=1e-5, atol=1e-6)


def test_the_manifest_describes_the_shards(tiny_corpus):
    _, folder = tiny_corpus
    manifest = json.loads((folder / "manifest.json").read_text())
    table = pd.read_parquet(folder / "tokens.parquet")
    assert manifest["sites"] == {"blocks.0.mlp.hook_pre": 128, "blocks.1.hook_resid_pre": 32}
    assert manifest["dtype"] == "float32" and manifest["context_size"] == 16
    assert manifest["tokens"] == len(table) == sum(shard["tokens"] for shard in manifest["shards"])
    for index, shard in enumerate(manifest["shards"]):
        assert shard["file"] == f"shard-{index}.safetensors"
        assert shard["windows"] == (table["shard"] == index).sum() // 16
        assert shard["sha256"] == sha256_of_file(folder / shard["file"])


@pytest.mark.parametrize(("dtype", "tolerance"), [("float16", 1e-3), ("bfloat16", 1e-2)])
def test_half_precision_storage_halves_the_disk(tiny_corpus, tiny_model, tmp_path, dtype, tolerance):
    _, folder = tiny_corpus
    path = tmp_path / "shard.safetensors"
    extract_shard(tiny_model[0], folder / "tokens.parquet", 0, 16, TINY_CORPUS_SITES, path, dtype=dtype, batch_size=5)
    full = folder / "shard-0.safetensors"
    data_bytes = {p: p.stat().st_size for p in (path, full)}
    token_bytes = 4 * 16 * CorpusStore(folder / "manifest.json").windows(0)
    assert (data_bytes[path] - token_bytes) / (data_bytes[full] - token_bytes) == pytest.approx(0.5, abs=0.01)
    store = CorpusStore(folder / "manifest.json")
    from interpflow.stores.tensor_stream import TensorStreamReader

    with TensorStreamReader(path) as reader:
        for site in TINY_CORPUS_SITES:
            half = reader.rows(site, 0, store.windows(0)).float()
            exact = store.activations(site, 0, np.arange(store.windows(0)))
            torch.testing.assert_close(half, exact, rtol=tolerance, atol=tolerance)


def test_reading_a_site_the_store_lacks_says_to_rerun_extraction(tiny_corpus):
    store = CorpusStore(tiny_corpus[1] / "manifest.json")
    with pytest.raises(KeyError, match="rerun its extraction"):
        store.activations("blocks.2.hook_resid_pre", 0, [0])


def test_per_head_sites_are_refused_before_any_forward_pass(tiny_corpus, tiny_model, tmp_path):
    _, folder = tiny_corpus
    with pytest.raises(ValueError, match=r"one vector per token; blocks.1.attn.hook_z are per head"):
        extract_shard(tiny_model[0], folder / "tokens.parquet", 0, 16, ["blocks.1.attn.hook_z"], tmp_path / "s")
    assert not (tmp_path / "s").exists()

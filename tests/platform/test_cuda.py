"""The model stages on a CUDA GPU give the CPU's numbers. Skipped where torch sees no GPU (CI)."""

import numpy as np
import pandas as pd
import pytest
import torch

from interpflow.methods.sparse_autoencoder.analysis import sae_config
from interpflow.methods.subspace_removal import analysis as sr
from interpflow.methods.subspace_removal.interventions import sweep_from_cache, sweep_reference
from interpflow.methods.subspace_removal.method import METHOD as SR_METHOD
from interpflow.models.loading import load_model
from interpflow.runtime.schema import option_defaults
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.training import train_full_batch
from interpflow.stores.extraction import extract_activations
from tests.conftest import ROOT, TINY_SPEC

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
TEXT = (ROOT / "resources" / "texts" / "ravel.txt").read_text(encoding="utf-8").strip()
SECTION = {"text": "ravel", "inspection_layer": 1, "intervention_layer": "middle", "sweep": True}


@pytest.fixture(scope="module")
def models(tiny_model_dir):
    """The tiny model on each device: ``{"cpu": (model, tokenizer), "cuda": (model, tokenizer)}``."""
    return {device: load_model(tiny_model_dir, device, n_layer=TINY_SPEC["n_layer"]) for device in ("cpu", "cuda")}


@pytest.fixture(scope="module")
def stores(models):
    sites = SR_METHOD.required_sites(SECTION, TINY_SPEC["n_layer"])
    return {device: extract_activations(*models[device], [TEXT], sites) for device in models}


def test_extraction_on_cuda_equals_cpu(models, stores):
    assert next(models["cuda"][0].parameters()).is_cuda
    pd.testing.assert_frame_equal(stores["cuda"].tokens, stores["cpu"].tokens)
    for site in stores["cpu"].sites:
        np.testing.assert_allclose(stores["cuda"][site], stores["cpu"][site], rtol=1e-4, atol=1e-4, err_msg=site)


def test_cached_sweep_on_cuda_equals_the_cpu_reference_loop(models, stores):
    layers = list(range(TINY_SPEC["n_layer"]))
    token_ids = torch.tensor(stores["cpu"].tokens["token_id"].to_numpy(), dtype=torch.long)
    reference = sweep_reference(models["cpu"][0], token_ids, layers, 1)
    cached = sweep_from_cache(models["cuda"][0], stores["cuda"], layers, 1, batch_size=2)
    tokens = stores["cpu"].tokens
    for table in (sr.hidden_state_impact_table, lambda runs: sr.logit_impact_table(runs, tokens)):
        pd.testing.assert_frame_equal(table(cached), table(reference), atol=1e-4, rtol=1e-4, check_exact=False)


def test_sae_training_on_cuda_follows_the_cpu_loss_curve(stores):
    x = stores["cpu"]["blocks.1.mlp.hook_pre"]
    config = sae_config("blocks.1.mlp.hook_pre", x.shape[1], {**option_defaults("sparse_autoencoder.sae"), "seed": 1})
    _, cpu = train_full_batch(x, config, 30, "cpu")
    model, cuda = train_full_batch(x, config, 30, "cuda")
    assert model.W_enc.is_cuda
    pd.testing.assert_frame_equal(cuda, cpu, rtol=1e-4, atol=1e-7)


@pytest.fixture(scope="module")
def corpus_store(models, tmp_path_factory):
    """The lecture texts as a 4-shard corpus, extracted on each device: ``{device: CorpusStore}``."""
    from interpflow.stores.corpus import Corpus
    from interpflow.stores.corpus_store import CorpusStore, write_manifest, write_token_table
    from interpflow.stores.shard_extraction import extract_shard

    folder = tmp_path_factory.mktemp("corpus")
    corpus = Corpus("texts", tuple(sorted((ROOT / "resources" / "texts").glob("*.txt"))), "text", 16, None, 4, True)
    write_token_table(corpus, models["cpu"][1], folder / "tokens.parquet")
    stores = {}
    for device, (model, _) in models.items():
        shards = [folder / f"{device}-{shard}.safetensors" for shard in range(4)]
        for shard, path in enumerate(shards):
            extract_shard(model, folder / "tokens.parquet", shard, 16, ["blocks.1.hook_resid_pre"], path, batch_size=3)
        write_manifest(shards, folder / f"{device}.json", {"name": "tiny"}, {"prepend_bos": True})
        stores[device] = CorpusStore(folder / f"{device}.json")
    return stores


def test_corpus_shard_extraction_on_cuda_equals_cpu(corpus_store):
    for shard in range(4):
        windows = np.arange(corpus_store["cpu"].windows(shard))
        cpu, cuda = (
            corpus_store[device].activations("blocks.1.hook_resid_pre", shard, windows) for device in ("cpu", "cuda")
        )
        np.testing.assert_allclose(cuda.numpy(), cpu.numpy(), rtol=1e-4, atol=1e-4)


def test_streaming_sae_on_cuda_follows_the_cpu_log(corpus_store):
    from interpflow.sae.core.streaming import StreamingSchedule, train_streaming

    config = SAEConfig("topk", "blocks.1.hook_resid_pre", TINY_SPEC["n_embd"], 64, 4, 0.0, 0.0, 4e-4, seed=0)
    schedule = StreamingSchedule(batch_tokens=32, buffer_tokens=128, token_budget=32 * 40, log_every=5)
    _, cpu = train_streaming(corpus_store["cpu"], config, schedule, "cpu")
    model, cuda = train_streaming(corpus_store["cpu"], config, schedule, "cuda")
    assert model.W_dec.is_cuda
    pd.testing.assert_frame_equal(cuda, cpu, rtol=1e-3, atol=1e-6)

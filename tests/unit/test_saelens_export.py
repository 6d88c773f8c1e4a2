"""The SAELens folder of every variant interpflow trains loads in SAELens and encodes and decodes as
interpflow does; its config says how the activations were taken."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sae_lens  # a test dependency: the reference the export is checked against
import torch
from safetensors.numpy import load_file

from interpflow.models.hf_hook_names import hf_module_output
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.streaming import StreamingSchedule, token_rows, train_streaming
from interpflow.sae.core.training import train_full_batch
from interpflow.sae.interop.saelens import SAELENS_FORMAT_VERSION, write_saelens_folder
from interpflow.stores.corpus_store import CorpusStore

SITE = "blocks.1.hook_resid_pre"


@pytest.fixture(scope="module")
def store(tiny_corpus):
    return CorpusStore(tiny_corpus[1] / "manifest.json")


def trained(variant: str, store: CorpusStore):
    """A small SAE of ``variant`` trained on the store's training shards (tied: full batch, as the
    lecture method trains it; TopK: streaming), and held-out activations ``(tokens, 32)``."""
    config = SAEConfig(variant, SITE, 32, 96, 6, 0.5, 1e-3, 1e-3, seed=2)
    heldout = token_rows(store.activations(SITE, 3, np.arange(store.windows(3))), True)
    if variant == "tied_ksparse":
        x = torch.cat([token_rows(store.activations(SITE, s, np.arange(store.windows(s))), True) for s in range(3)])
        return train_full_batch(x.numpy(), config, 20)[0], config, heldout
    schedule = StreamingSchedule(batch_tokens=30, buffer_tokens=64, token_budget=30 * 20)
    return train_streaming(store, config, schedule)[0], config, heldout


@pytest.mark.parametrize("variant", ["topk", "batchtopk", "tied_ksparse"])
def test_saelens_loads_the_export_and_encodes_and_decodes_as_interpflow(store, tmp_path, variant):
    sae, config, x = trained(variant, store)
    density = np.linspace(0, 0.5, 96)
    record = {"sae": config.to_dict(), "training": {}}
    metadata = {"model_name": "tiny", "context_size": 16, "prepend_bos": True, "dataset_path": "texts"}
    write_saelens_folder(tmp_path / "saelens", sae, config, record, density, **metadata)

    loaded = sae_lens.SAE.load_from_disk(str(tmp_path / "saelens"), device="cpu")
    architecture = "jumprelu" if variant == "batchtopk" else "topk"  # batchtopk infers by its threshold
    assert loaded.cfg.d_in == 32 and loaded.cfg.d_sae == 96 and loaded.cfg.architecture() == architecture
    with torch.no_grad():
        z, z_saelens = sae.encode(x), loaded.encode(x)
        torch.testing.assert_close(z_saelens, z, rtol=0, atol=1e-6)
        torch.testing.assert_close(loaded.decode(z_saelens), sae.decode(z), rtol=0, atol=1e-6)
    active = (z != 0).sum(1)
    assert active.max() == 6 if architecture == "topk" else 0 < active.float().mean() < 20  # not only zeros

    cfg = json.loads((tmp_path / "saelens" / "cfg.json").read_text())
    assert cfg["architecture"] == architecture and cfg["apply_b_dec_to_input"] is True
    meta = cfg["metadata"]
    assert (meta["hook_name"], meta["model_name"], meta["context_size"], meta["prepend_bos"]) == (
        SITE,
        "tiny",
        16,
        True,
    )
    assert meta["model_from_pretrained_kwargs"]["center_writing_weights"] is False  # the residual stream as it is
    assert meta["sae_lens_version"] == SAELENS_FORMAT_VERSION and meta["interpflow"] == record
    sparsity = load_file(tmp_path / "saelens" / "sparsity.safetensors")["sparsity"]
    np.testing.assert_allclose(sparsity, np.log10(density + 1e-10), rtol=1e-6)
    weights = load_file(tmp_path / "saelens" / "sae_weights.safetensors")
    assert {name: w.shape for name, w in weights.items()} == {
        "W_enc": (32, 96),
        "b_enc": (96,),
        "W_dec": (96, 32),
        "b_dec": (32,),
        **({"threshold": (96,)} if variant == "batchtopk" else {}),
    }


def test_the_installed_saelens_is_the_release_the_format_follows():
    """A newer sae-lens may change the folder layout: this fails so the writer is checked against it."""
    assert sae_lens.__version__ == SAELENS_FORMAT_VERSION


def test_hf_hook_name_is_the_module_whose_output_is_the_site(tiny_model):
    """SAELens reads ``hf_hook_name`` as a module whose output it hooks: that output must be the site."""
    model, tokenizer = tiny_model
    ids = tokenizer("Palinka is a fruit brandy", return_tensors="pt")["input_ids"]
    outputs = {}
    hooks = [
        model.get_submodule(name).register_forward_hook(
            lambda module, args, output, name=name: outputs.__setitem__(
                name, output[0] if isinstance(output, tuple) else output
            )
        )
        for name in (hf_module_output("gpt2", f"blocks.{layer}.hook_resid_pre") for layer in (1, 2))
    ]
    try:
        with torch.no_grad():
            hidden = model(ids, output_hidden_states=True).hidden_states  # hidden_states[L]: block L's input
    finally:
        for hook in hooks:
            hook.remove()
    for layer in (1, 2):
        torch.testing.assert_close(outputs[f"transformer.h.{layer - 1}"], hidden[layer], rtol=0, atol=0)
    assert hf_module_output("gpt2", "blocks.2.hook_resid_post") == "transformer.h.2"
    assert hf_module_output("llama", "blocks.4.hook_resid_pre") == "model.layers.3"
    assert hf_module_output("gpt2", "blocks.0.hook_resid_pre") is None  # the embeddings' sum: no module
    assert hf_module_output("gpt2", "blocks.2.mlp.hook_pre") is None

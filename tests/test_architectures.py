"""Every supported family, on a tiny random model of it: the residual identity, the captured sites
against a second, independent path, and the cached intervention engine against the reference loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interpflow.architectures import FAMILIES, UnsupportedArchitectureError
from interpflow.extraction import extract_activations
from interpflow.interventions import sweep_from_cache, sweep_reference
from interpflow.models import build_embedded_model, load_model
from interpflow.sites import BLOCK_HOOKS, FINAL_NORM, block_site, residual_streams
from tests.conftest import ROOT, TOKENIZER_DIR

N_LAYER = 3
TEXT = (ROOT / "resources" / "texts" / "ravel.txt").read_text(encoding="utf-8")[:400]


def family_spec(family: str) -> dict:
    # gemma2's window of 8 tokens is shorter than the text: its sliding-window layers mask differently
    spec = {"architecture": family, "n_layer": N_LAYER, "n_embd": 32, "n_head": 4, "n_positions": 256, "seed": 3}
    return spec | ({"sliding_window": 8} if family == "gemma2" else {})


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_run(request, tmp_path_factory):
    """A tiny model of one family and its activation store over one text, every site."""
    folder = build_embedded_model(family_spec(request.param), TOKENIZER_DIR, tmp_path_factory.mktemp("m") / "model")
    model, tokenizer = load_model(folder, "cpu", n_layer=N_LAYER)
    sites = [block_site(layer, hook) for layer in range(N_LAYER) for hook in BLOCK_HOOKS] + [FINAL_NORM]
    store = extract_activations(model, tokenizer, [TEXT], sites)
    return request.param, model, store


def test_every_family_builds_its_own_architecture(family_run):
    family, model, store = family_run
    assert FAMILIES[family].family == family
    assert model.config.model_type == family
    assert len(store.tokens) > 8


def test_residual_identity_holds_for_every_block_but_the_last(family_run):
    """resid_pre[L+1] = resid_pre[L] + attn_out[L] + mlp_out[L]; after the last block the final norm intervenes."""
    _, _, store = family_run
    for layer in range(N_LAYER):
        parts = [store[block_site(layer, hook)] for hook in ("hook_resid_pre", "hook_attn_out", "hook_mlp_out")]
        reconstruction = (parts[0].astype(np.float64) + parts[1] + parts[2]).ravel()
        following = store[block_site(layer + 1, "hook_resid_pre") if layer < N_LAYER - 1 else FINAL_NORM].ravel()
        r = np.corrcoef(reconstruction, following)[0, 1]
        error = np.abs(reconstruction - following).max()
        if layer < N_LAYER - 1:
            assert r >= 0.99999 and error < 1e-4 * np.abs(following).max(), (layer, r, error)
        else:
            assert error > 1e-2, "the final norm's output is not the last block's residual sum"
            np.testing.assert_allclose(reconstruction, store[block_site(layer, "hook_resid_post")].ravel(), atol=1e-4)


def test_residual_stream_sites_equal_output_hidden_states(family_run):
    """The independent path for the residual stream: Hugging Face's ``output_hidden_states``."""
    _, model, store = family_run
    ids = torch.tensor(store.tokens["token_id"].to_numpy())[None]
    with torch.no_grad():
        hidden_states = model(ids, output_hidden_states=True).hidden_states
    for site, expected in zip(residual_streams(N_LAYER), hidden_states, strict=True):
        np.testing.assert_allclose(store[site], expected[0].numpy(), atol=1e-5, rtol=1e-5, err_msg=site)


def manual_mlp_neurons(family: str, block, resid_pre: torch.Tensor, attn_out: torch.Tensor):
    """``(mlp.hook_pre, mlp.hook_post)`` recomputed from the block's weights by hand, not through the adapter."""
    if family == "gpt2":
        normed = block.ln_2(resid_pre + attn_out)
        pre = normed @ block.mlp.c_fc.weight + block.mlp.c_fc.bias
        return pre, block.mlp.act(pre)
    if family == "gpt_neox":
        normed = block.post_attention_layernorm(resid_pre)  # parallel residual: the MLP reads the block input
        pre = normed @ block.mlp.dense_h_to_4h.weight.T + block.mlp.dense_h_to_4h.bias
        return pre, block.mlp.act(pre)
    norm = block.post_attention_layernorm if family == "llama" else block.pre_feedforward_layernorm
    normed = norm(resid_pre + attn_out)
    gate, up = normed @ block.mlp.gate_proj.weight.T, normed @ block.mlp.up_proj.weight.T
    return gate, block.mlp.act_fn(gate) * up


def test_mlp_neuron_sites_equal_a_manual_recomputation_of_one_block(family_run):
    family, model, store = family_run
    layer = 1
    block = FAMILIES[family].blocks(model)[layer]
    resid_pre, attn_out = (
        torch.as_tensor(store[block_site(layer, hook)]) for hook in ("hook_resid_pre", "hook_attn_out")
    )
    with torch.no_grad():
        pre, post = manual_mlp_neurons(family, block, resid_pre, attn_out)
    np.testing.assert_allclose(store[block_site(layer, "mlp.hook_pre")], pre.numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(store[block_site(layer, "mlp.hook_post")], post.numpy(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("neuron_hook", ["mlp.hook_pre", "mlp.hook_post"])
def test_cached_sweep_equals_the_reference_loop(family_run, neuron_hook):
    _, model, store = family_run
    layers = list(range(N_LAYER))
    ids = torch.tensor(store.tokens["token_id"].to_numpy())
    reference = sweep_reference(model, ids, layers, 1, neuron_hook=neuron_hook)
    cached = sweep_from_cache(model, store, layers, 1, batch_size=2, neuron_hook=neuron_hook)
    for fast, slow in zip(cached, reference, strict=True):
        assert fast.layer == slow.layer
        assert np.abs(slow.delta_logprob).max() > 1e-4, "the intervention changes nothing: the check would be empty"
        np.testing.assert_allclose(fast.delta_logprob, slow.delta_logprob, atol=1e-5, rtol=0)
        np.testing.assert_allclose(fast.diff_norms, slow.diff_norms, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(fast.hidden_after, slow.hidden_after, atol=1e-5, rtol=1e-5)


def test_an_unsupported_model_type_stops_with_the_supported_list(tmp_path, tiny_model_dir):
    folder = tmp_path / "bert"
    folder.mkdir()
    config = json.loads((tiny_model_dir / "config.json").read_text()) | {"model_type": "bert"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedArchitectureError, match="'bert' has no adapter; supported: gemma2, gpt2, gpt_neox"):
        load_model(folder)

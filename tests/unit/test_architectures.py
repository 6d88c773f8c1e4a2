"""Every supported family, on a tiny perturbed model of it (random norm weights and biases, non-zero
biases, :mod:`tests.model_zoo`): the residual identity, the captured sites against a second,
independent path, and the cached intervention engine against the reference loop. Mistral and Qwen2
run through the Llama adapter, GPT-NeoX with a parallel and a sequential residual."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from interpflow.methods.residual_decomposition import analysis as residual_decomposition
from interpflow.methods.subspace_removal.interventions import sweep_from_cache, sweep_reference
from interpflow.models.architectures import ADAPTERS, UnsupportedArchitectureError, adapter_of
from interpflow.models.families import FAMILY_OF_MODEL_TYPE
from interpflow.models.families import MODEL_TYPES as MODEL_TYPES_OF_FAMILY
from interpflow.models.hooks import capture
from interpflow.models.loading import load_model, vendored_tokenizer
from interpflow.models.sites import BLOCK_HOOKS, FINAL_NORMALIZED, FINAL_OUTPUT, block_site, residual_streams
from interpflow.stores.extraction import extract_activations
from tests.conftest import ROOT, TOKENIZER_DIR
from tests.model_zoo import VARIANTS, tiny_model

N_LAYER = 3
TEXT = (ROOT / "resources" / "texts" / "ravel.txt").read_text(encoding="utf-8")[:400]
MODEL_TYPES = {"gpt_neox_sequential": "gpt_neox"}


def parallel_residual(model) -> bool:
    return bool(getattr(model.config, "use_parallel_residual", False))


@pytest.fixture(scope="module", params=VARIANTS)
def family_run(request, tmp_path_factory):
    """A tiny perturbed model of one variant (loaded as the workflow loads models) and its activation
    store over one text, every site. Gemma 2's window of 6 tokens is shorter than the text, so its
    sliding-window layers really mask."""
    folder = tmp_path_factory.mktemp("m") / "model"
    tiny_model(request.param, True, folder, spec={"n_layer": N_LAYER, "n_positions": 256})
    vendored_tokenizer(TOKENIZER_DIR).save_pretrained(folder)
    model, tokenizer = load_model(folder, "cpu", n_layer=N_LAYER)
    hooks = [hook for hook in BLOCK_HOOKS if hook != "hook_resid_mid" or not parallel_residual(model)]
    sites = [block_site(layer, hook) for layer in range(N_LAYER) for hook in hooks] + [FINAL_NORMALIZED, FINAL_OUTPUT]
    store = extract_activations(model, tokenizer, [TEXT], sites)
    return request.param, model, store


def test_every_variant_builds_its_own_architecture(family_run):
    variant, model, store = family_run
    assert model.config.model_type == MODEL_TYPES.get(variant, variant)
    assert adapter_of(model).family == {"mistral": "llama", "qwen2": "llama"}.get(variant, model.config.model_type)
    assert len(store.tokens) > 8


def test_residual_identity_holds_for_every_block_but_the_last(family_run):
    """resid_pre[L+1] = resid_pre[L] + attn_out[L] + mlp_out[L]; after the last block the final norm intervenes."""
    _, _, store = family_run
    for layer in range(N_LAYER):
        parts = [store[block_site(layer, hook)] for hook in ("hook_resid_pre", "hook_attn_out", "hook_mlp_out")]
        reconstruction = (parts[0].astype(np.float64) + parts[1] + parts[2]).ravel()
        following = store[block_site(layer + 1, "hook_resid_pre") if layer < N_LAYER - 1 else FINAL_OUTPUT].ravel()
        r = np.corrcoef(reconstruction, following)[0, 1]
        error = np.abs(reconstruction - following).max()
        if layer < N_LAYER - 1:
            assert r >= 0.99999 and error < 1e-4 * np.abs(following).max(), (layer, r, error)
        else:
            assert error > 1e-2, "the final norm's output is not the last block's residual sum"
            np.testing.assert_allclose(reconstruction, store[block_site(layer, "hook_resid_post")].ravel(), atol=1e-4)


def test_the_residual_decomposition_method_finds_the_identity_on_every_perturbed_variant(family_run):
    """The method's positive control: its table says r = 1 and a tiny error for the reconstruction at
    every block but the last, where the final norm (with random weight and bias) stands in between."""
    _, model, store = family_run
    table = residual_decomposition.correlation_table(store, list(range(N_LAYER)), None, N_LAYER)
    rows = table[table["comparison"] == "reconstruction_vs_next_hs"].set_index("layer")
    scale = np.abs(store[block_site(1, "hook_resid_post")]).max()
    for layer in range(N_LAYER - 1):
        assert rows.loc[layer, "pearson_r"] >= 0.99999, layer
        assert rows.loc[layer, "max_abs_reconstruction_error"] < 1e-4 * scale, layer
    assert rows.loc[N_LAYER - 1, "pearson_r"] < 0.999


def test_residual_stream_sites_equal_output_hidden_states(family_run):
    """The independent path for the residual stream: Hugging Face's ``output_hidden_states``."""
    _, model, store = family_run
    ids = torch.tensor(store.tokens["token_id"].to_numpy())[None]
    with torch.no_grad():
        hidden_states = model(ids, output_hidden_states=True).hidden_states
    for site, expected in zip(residual_streams(N_LAYER), hidden_states, strict=True):
        np.testing.assert_allclose(store[site], expected[0].numpy(), atol=1e-5, rtol=1e-5, err_msg=site)


def manual_mlp_neurons(variant: str, block, resid_pre: torch.Tensor, attn_out: torch.Tensor):
    """``(mlp.hook_pre, mlp.hook_post)`` recomputed from the block's weights by hand, not through the adapter."""
    if variant == "gpt2":
        normed = block.ln_2(resid_pre + attn_out)
        pre = normed @ block.mlp.c_fc.weight + block.mlp.c_fc.bias
        return pre, block.mlp.act(pre)
    if variant.startswith("gpt_neox"):
        # a parallel residual's MLP reads the block input, a sequential one the residual after attention
        mlp_input = resid_pre if block.use_parallel_residual else resid_pre + attn_out
        normed = block.post_attention_layernorm(mlp_input)
        pre = normed @ block.mlp.dense_h_to_4h.weight.T + block.mlp.dense_h_to_4h.bias
        return pre, block.mlp.act(pre)
    norm = block.pre_feedforward_layernorm if variant == "gemma2" else block.post_attention_layernorm
    normed = norm(resid_pre + attn_out)
    gate, up = normed @ block.mlp.gate_proj.weight.T, normed @ block.mlp.up_proj.weight.T
    return gate, block.mlp.act_fn(gate) * up


def test_mlp_neuron_sites_equal_a_manual_recomputation_of_one_block(family_run):
    family, model, store = family_run
    layer = 1
    block = adapter_of(model).blocks(model)[layer]
    resid_pre, attn_out = (
        torch.as_tensor(store[block_site(layer, hook)]) for hook in ("hook_resid_pre", "hook_attn_out")
    )
    with torch.no_grad():
        pre, post = manual_mlp_neurons(family, block, resid_pre, attn_out)
    np.testing.assert_allclose(store[block_site(layer, "mlp.hook_pre")], pre.numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(store[block_site(layer, "mlp.hook_post")], post.numpy(), atol=1e-5, rtol=1e-4)


def test_the_mid_residual_is_the_input_plus_attention(family_run):
    """Sequential blocks: ``hook_resid_mid = hook_resid_pre + hook_attn_out``; a parallel residual has
    none, and asking for it says why."""
    _, model, store = family_run
    if parallel_residual(model):
        with pytest.raises(ValueError, match="parallel residual .* have no hook_resid_mid"):
            with capture(model, ["blocks.1.hook_resid_mid"]):
                pass
        return
    for layer in range(N_LAYER):
        expected = store[block_site(layer, "hook_resid_pre")] + store[block_site(layer, "hook_attn_out")]
        np.testing.assert_allclose(store[block_site(layer, "hook_resid_mid")], expected, atol=1e-5, rtol=1e-5)


def test_the_final_norm_is_its_normalized_input_times_weight_plus_bias(family_run):
    """``ln_final.output`` = ``ln_final.hook_normalized`` · weight (+ bias), each norm's own affine map
    written out: LayerNorm ``w·x + b``, Llama's RMSNorm ``w·x``, Gemma 2's ``(1 + w)·x``."""
    variant, model, store = family_run
    norm = adapter_of(model).final_norm(model)
    weight = norm.weight.detach().numpy()
    normalized = store[FINAL_NORMALIZED]
    if variant == "gemma2":
        expected = normalized * (1 + weight)
    elif isinstance(norm, torch.nn.LayerNorm):
        expected = normalized * weight + norm.bias.detach().numpy()
    else:
        expected = normalized * weight
    assert np.abs(weight - (0 if variant == "gemma2" else 1)).max() > 0.1, "the norm's weight is trivial"
    np.testing.assert_allclose(store[FINAL_OUTPUT], expected, atol=1e-5, rtol=1e-4)
    if isinstance(norm, torch.nn.LayerNorm):
        np.testing.assert_allclose(normalized.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(np.sqrt((normalized.astype(np.float64) ** 2).mean(-1)), 1, atol=1e-3)


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


def test_the_torch_free_family_table_is_the_adapters():
    """What the config check names (:mod:`interpflow.models.families`) is what loading a model covers."""
    assert {model_type: adapter.family for model_type, adapter in ADAPTERS.items()} == FAMILY_OF_MODEL_TYPE
    assert {adapter.family for adapter in ADAPTERS.values()} == set(MODEL_TYPES_OF_FAMILY)


def test_checking_a_model_folder_before_any_job_does_not_import_torch(tiny_model_dir):
    """Snakemake checks the config at every start-up (``-n`` included): it reads config.json, not the model."""
    config = {"model_dir": "models", "models": {"tiny": {"source": "local", "path": str(tiny_model_dir), "n_layer": 3}}}
    check = (
        "import sys; from interpflow.config import check_model_folder; "
        f"check_model_folder({config!r}, 'tiny', __import__('pathlib').Path('.')); "
        "assert 'torch' not in sys.modules, 'the config check imported torch'"
    )
    subprocess.run([sys.executable, "-c", check], check=True)

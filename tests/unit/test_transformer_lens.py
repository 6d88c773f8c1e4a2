"""Every site holds what TransformerLens 3.x's own ``HookedTransformer`` records under its name.

Each tiny model (every family, Mistral and Qwen2 through the Llama adapter, GPT-NeoX with either
residual) is converted with TransformerLens's own ``convert_*_weights`` into a ``HookedTransformer``
with no weight processing (no folding, no centring) and run on the same token ids, without a BOS
token. Every site interpflow can read, and the logits, must agree: to 1e-5 of the site's scale on the
models as the workflow builds them, to 1e-4 on perturbed copies (random norm weights and biases,
non-zero biases, attention far from uniform, Gemma 2's soft-caps biting), where a bug in norm
handling, biases, soft-capping or attention scaling shows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformer_lens")

from transformer_lens import HookedTransformer, HookedTransformerConfig  # noqa: E402
from transformer_lens.loading_from_pretrained import convert_hf_model_config  # noqa: E402
from transformer_lens.pretrained.weight_conversions import (  # noqa: E402
    convert_gemma_weights,
    convert_gpt2_weights,
    convert_llama_weights,
    convert_mistral_weights,
    convert_neox_weights,
    convert_qwen2_weights,
)

from interpflow.models.architectures import FAMILIES, Gemma2, HookPoint, adapter_of  # noqa: E402
from interpflow.models.hooks import capture  # noqa: E402
from interpflow.models.sites import BLOCK_HOOKS, FINAL_NORMALIZED, FINAL_OUTPUT, block_site  # noqa: E402
from tests.model_zoo import SPEC, VARIANTS, tiny_model  # noqa: E402

CONVERTERS = {
    "gpt2": convert_gpt2_weights,
    "gpt_neox": convert_neox_weights,
    "gpt_neox_sequential": convert_neox_weights,
    "llama": convert_llama_weights,
    "mistral": convert_mistral_weights,
    "qwen2": convert_qwen2_weights,
    "gemma2": convert_gemma_weights,
}
TOKENS = torch.tensor([[464, 3290, 286, 262, 1181, 373, 922, 13, 632, 2540, 257, 1643]])


def gemma2_config(config) -> dict:
    """TransformerLens keys its Gemma 2 configs by official model name; this is its gemma-2 entry
    (``loading_from_pretrained``) filled from the model's own config."""
    return {
        "d_model": config.hidden_size,
        "d_head": config.head_dim,
        "n_heads": config.num_attention_heads,
        "d_mlp": config.intermediate_size,
        "n_layers": config.num_hidden_layers,
        "n_ctx": config.max_position_embeddings,
        "eps": config.rms_norm_eps,
        "d_vocab": config.vocab_size,
        "act_fn": config.hidden_activation,
        "normalization_type": "RMS",
        "rotary_base": config.rope_parameters["rope_theta"],
        "positional_embedding_type": "rotary",
        "use_attn_scale": True,
        "attn_scale": config.query_pre_attn_scalar**0.5,
        "n_key_value_heads": config.num_key_value_heads,
        "window_size": config.sliding_window,
        "use_local_attn": True,
        "attn_types": ["local" if kind == "sliding_attention" else "global" for kind in config.layer_types],
        "attn_scores_soft_cap": config.attn_logit_softcapping,
        "output_logits_soft_cap": config.final_logit_softcapping,
        "gated_mlp": True,
        "final_rms": True,
        "use_normalization_before_and_after": True,
        "original_architecture": "Gemma2ForCausalLM",
    }


def hooked_transformer(variant: str, model, folder) -> HookedTransformer:
    """``model`` as TransformerLens's ``HookedTransformer``, through its own config and weight conversion."""
    if variant == "gemma2":
        values = gemma2_config(model.config)
    else:
        values = convert_hf_model_config(str(folder))
    config = HookedTransformerConfig(**(values | {"tokenizer_name": None, "device": "cpu", "dtype": torch.float32}))
    hooked = HookedTransformer(config)
    hooked.load_state_dict(CONVERTERS[variant](model, config), strict=False)
    return hooked.eval()


def readable_sites(model) -> list[str]:
    sequential = not getattr(model.config, "use_parallel_residual", False)
    hooks = [hook for hook in BLOCK_HOOKS if sequential or hook != "hook_resid_mid"]
    return [block_site(layer, hook) for layer in range(SPEC["n_layer"]) for hook in hooks] + [FINAL_NORMALIZED]


def transformer_lens_value(cache, site: str) -> np.ndarray:
    """TransformerLens's value of ``site``, token axis second (patterns: ``(batch, query, head, key)``)."""
    value = cache[site]
    return (value.transpose(1, 2) if site.endswith("attn.hook_pattern") else value).numpy()


def assert_agree(ours: np.ndarray, theirs: np.ndarray, tolerance: float, what: str) -> None:
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    scale = np.abs(theirs).max()
    error = np.abs(ours - theirs).max()
    assert error <= tolerance * scale, f"{what}: max |difference| {error:.3g} at scale {scale:.3g}"


def pair_id(param) -> str:
    variant, perturbed = param
    return f"{variant}-{'perturbed' if perturbed else 'as-built'}"


@pytest.fixture(
    scope="module", params=[(variant, perturbed) for variant in VARIANTS for perturbed in (False, True)], ids=pair_id
)
def pair(request, tmp_path_factory):
    """``(variant, perturbed, Hugging Face model, HookedTransformer, TransformerLens cache, logits)``."""
    variant, perturbed = request.param
    # a neutral folder name: TransformerLens picks some architectures by a model name containing "llama"
    folder = tmp_path_factory.mktemp("model")
    model = tiny_model(variant, perturbed, folder)
    hooked = hooked_transformer(variant, model, folder)
    with torch.no_grad():
        logits, cache = hooked.run_with_cache(TOKENS)
    return variant, perturbed, model, hooked, cache, logits


def tolerance(perturbed: bool) -> float:
    return 1e-4 if perturbed else 1e-5


def test_every_site_holds_what_transformer_lens_records(pair):
    variant, perturbed, model, _, cache, _ = pair
    sites = readable_sites(model)
    with torch.no_grad(), capture(model, sites) as captured:
        model(TOKENS, use_cache=False)
    for site in sites:
        assert_agree(captured[site].numpy(), transformer_lens_value(cache, site), tolerance(perturbed), site)


def test_the_logits_and_the_final_norm_output_agree(pair):
    """The model's logits, and the adapter's logits from ``ln_final.output`` (the cached engine's path)."""
    variant, perturbed, model, hooked, cache, logits = pair
    last = block_site(SPEC["n_layer"] - 1, "hook_resid_post")
    with torch.no_grad(), capture(model, [FINAL_OUTPUT]) as captured:
        model_logits = model(TOKENS, use_cache=False).logits
        expected_output = hooked.ln_final(cache[last])
        adapter_logits = adapter_of(model).unembed(model, captured[FINAL_OUTPUT])
    assert_agree(captured[FINAL_OUTPUT].numpy(), expected_output.numpy(), tolerance(perturbed), FINAL_OUTPUT)
    assert_agree(model_logits.numpy(), logits.numpy(), tolerance(perturbed), "logits")
    assert_agree(adapter_logits.numpy(), logits.numpy(), tolerance(perturbed), "adapter logits")


def test_perturbed_models_exercise_what_the_embedded_models_hide(pair):
    """As built (norm weight 1, bias 0), the final norm's output equals its normalized input: the old
    meaning of ``ln_final.hook_normalized`` passed every test there. The perturbed copies tell the two
    apart, attend far from uniformly, and (Gemma 2) have soft-caps that change the logits."""
    variant, perturbed, model, hooked, cache, logits = pair
    normalized = cache[FINAL_NORMALIZED]
    output = hooked.ln_final(cache[block_site(SPEC["n_layer"] - 1, "hook_resid_post")])
    gap = float((normalized - output).abs().max() / output.abs().max())
    if not perturbed:
        assert gap < 1e-5
        return
    assert gap > 0.1
    assert cache[block_site(1, "attn.hook_pattern")].max() > 0.9
    if variant == "gemma2":
        with torch.no_grad():
            uncapped = model.get_output_embeddings()(output)
        assert (uncapped - logits).abs().max() > 0.1 * logits.abs().max()


class Gemma2ReadBeforePostNorms(Gemma2):
    """A broken adapter: attention's and the MLP's updates read before Gemma 2's post-norms."""

    hook_points = Gemma2.hook_points | {
        "hook_attn_out": HookPoint("self_attn.o_proj"),
        "hook_mlp_out": HookPoint("mlp.down_proj"),
    }


class Gemma2WithoutSoftCap(Gemma2):
    """A broken adapter: logits without the final soft-cap."""

    def unembed(self, model, normed):
        return model.get_output_embeddings()(normed)


@pytest.mark.parametrize(
    "broken, site",
    [(Gemma2ReadBeforePostNorms(), "blocks.1.hook_attn_out"), (Gemma2WithoutSoftCap(), "logits")],
    ids=["updates before post-norms", "no soft-cap"],
)
def test_the_cross_check_catches_broken_adapters_on_perturbed_models(tmp_path, monkeypatch, broken, site):
    """The check can fail: adapters with known bugs disagree with TransformerLens on a perturbed model."""
    model = tiny_model("gemma2", True, tmp_path)
    hooked = hooked_transformer("gemma2", model, tmp_path)
    monkeypatch.setitem(FAMILIES, "gemma2", broken)
    monkeypatch.setattr("interpflow.models.architectures.ADAPTERS", {"gemma2": broken})
    with torch.no_grad():
        logits, cache = hooked.run_with_cache(TOKENS)
        with capture(model, [site if site != "logits" else FINAL_OUTPUT]) as captured:
            model(TOKENS, use_cache=False)
        if site == "logits":
            ours, theirs = broken.unembed(model, captured[FINAL_OUTPUT]).numpy(), logits.numpy()
        else:
            ours, theirs = captured[site].numpy(), transformer_lens_value(cache, site)
    with pytest.raises(AssertionError, match="max |difference|"):
        assert_agree(ours, theirs, 1e-4, site)


def test_the_direct_logit_effect_is_transformer_lens_unembedding_with_the_final_norm_folded(pair):
    """``W_dec · W_U`` as SAEDashboard reads it from TransformerLens (``fold_ln``): the final norm's weight (Gemma's
    ``1 + weight``) folded into ``W_U``, and LayerNorm's centring, on models whose norms are not 1 and 0."""
    import copy

    from interpflow.models.unembedding import Unembedding

    variant, perturbed, model, hooked, _, _ = pair
    folded = copy.deepcopy(hooked)
    folded.process_weights_(fold_ln=True, center_writing_weights=False, center_unembed=False)
    directions = torch.randn(7, folded.cfg.d_model, generator=torch.Generator().manual_seed(0))
    centred = folded.cfg.normalization_type in ("LN", "LNPre")
    reference = (directions - directions.mean(1, keepdim=True) if centred else directions) @ folded.W_U
    with torch.no_grad():
        ours = Unembedding.of(model).logits(directions)
    assert_agree(ours.numpy(), reference.detach().numpy(), 1e-5, variant)

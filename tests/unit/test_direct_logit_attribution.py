"""Direct logit attribution: the parts sum to the whole on every family (perturbed weights: norm weights
and biases, non-zero projection biases, Gemma 2's post-norms and soft-cap), and each head's term equals
TransformerLens 3.9's ``stack_head_results`` + ``apply_ln_to_stack`` decomposition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interpflow.methods.direct_logit_attribution.attribution import attribute_pair
from interpflow.methods.direct_logit_attribution.method import METHOD
from interpflow.models.hooks import capture
from tests.model_zoo import SPEC, VARIANTS, tiny_model

TOKENS = torch.tensor([[464, 3290, 286, 262, 1181, 373, 922, 13, 632, 2540, 257, 1643]])
ANSWER, WRONG = 1110, 3576
N_LAYER = SPEC["n_layer"]


def last_position(model) -> dict[str, torch.Tensor]:
    sites = METHOD.required_sites({}, N_LAYER)
    with torch.no_grad(), capture(model, sites) as captured:
        model(TOKENS, use_cache=False)
    return {site: value[0, -1] for site, value in captured.items()}


@pytest.fixture(scope="module", params=VARIANTS)
def attributed(request):
    model = tiny_model(request.param, True)
    return request.param, model, attribute_pair(model, last_position(model), ANSWER, WRONG, neurons=True)


def test_the_parts_sum_to_the_clean_logit_difference_in_every_family(attributed):
    """Embedding, heads with their biases, MLPs and the constant terms sum to the model's own logit
    difference (before Gemma 2's soft-cap): the frozen-norm decomposition is exact at the clean run."""
    variant, model, parts = attributed
    with torch.no_grad():
        logits = model(TOKENS, use_cache=False).logits[0, -1].double()
    scale = max(1.0, float(np.abs(parts.heads).max()))
    assert abs(parts.parts_sum - parts.logit_diff) < 1e-5 * scale, variant
    if variant != "gemma2":  # the model's logits are the uncapped ones
        assert parts.logit_diff == pytest.approx(float(logits[ANSWER] - logits[WRONG]), abs=1e-5)
    else:  # the logit difference before the soft-cap, whose capped logits are the model's
        cap = model.config.final_logit_softcapping
        uncapped = np.arctanh(logits[[ANSWER, WRONG]].numpy() / cap) * cap
        assert parts.logit_diff == pytest.approx(uncapped[0] - uncapped[1], abs=1e-4)
        assert abs(parts.logit_diff - float(logits[ANSWER] - logits[WRONG])) > 1e-4  # and the cap changes it


def test_heads_and_neurons_sum_to_their_blocks_update(attributed):
    variant, _, parts = attributed
    assert np.allclose(parts.heads.sum(1) + parts.attn_bias, parts.attn, atol=1e-5), variant
    assert np.allclose(parts.neurons.sum(1) + parts.mlp_bias, parts.mlp, atol=1e-5), variant
    assert np.abs(parts.heads).min() > 0 and np.ptp(parts.heads) > 1e-3  # every head contributes, unequally
    if variant in ("gpt2", "gpt_neox", "gpt_neox_sequential"):  # their projections have biases
        assert np.abs(parts.attn_bias).min() > 1e-6 and np.abs(parts.mlp_bias).min() > 1e-6
    if variant == "gpt2":
        assert abs(parts.final_norm_bias) > 1e-6  # LayerNorm's bias, a constant term


def test_a_wrong_norm_scale_breaks_the_sum():
    """The check above can fail: without the final norm's frozen scale the parts miss the whole."""
    from interpflow.methods.direct_logit_attribution import attribution

    model = tiny_model("gpt2", True)
    clean = last_position(model)
    original = attribution.frozen_norm_direction

    def unscaled(adapter, norm, x, direction):
        r = adapter.norm_scale(norm).detach().double() * direction
        return r - r.mean()

    attribution.frozen_norm_direction = unscaled
    try:
        parts = attribute_pair(model, clean, ANSWER, WRONG)
    finally:
        attribution.frozen_norm_direction = original
    assert abs(parts.parts_sum - parts.logit_diff) > 1e-2


def test_each_heads_term_is_transformer_lens_head_results_through_the_frozen_final_norm(tmp_path):
    pytest.importorskip("transformer_lens")
    from tests.unit.test_transformer_lens import hooked_transformer

    model = tiny_model("gpt2", True, tmp_path / "model")
    hooked = hooked_transformer("gpt2", model, tmp_path / "model")
    with torch.no_grad():
        _, cache = hooked.run_with_cache(TOKENS)
        stack, labels = cache.stack_head_results(layer=-1, pos_slice=-1, return_labels=True, apply_ln=True)
        direction = hooked.ln_final.w * (hooked.W_U[:, ANSWER] - hooked.W_U[:, WRONG])
        expected = (stack[:, 0] @ direction).double().numpy()  # (n_layer * n_head,), labelled L<layer>H<head>
    parts = attribute_pair(model, last_position(model), ANSWER, WRONG)
    assert labels[: SPEC["n_head"] + 1][-1] == "L1H0"
    assert np.allclose(parts.heads.reshape(-1), expected, atol=1e-5 * np.abs(expected).max()), (parts.heads, expected)

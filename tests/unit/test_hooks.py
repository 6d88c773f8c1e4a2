"""Hooks keep the batch dimension, can replace a site's value, and are always removed."""

import pytest
import torch

from interpflow.models.hooks import capture, hooked, site_access


def hook_count(model):
    return sum(len(module._forward_hooks) + len(module._forward_pre_hooks) for module in model.modules())


def test_capture_keeps_batch_dimension(tiny_model):
    model, tokenizer = tiny_model
    batch = tokenizer(["one two three", "four five six seven eight"], return_tensors="pt", padding=True)
    sites = ["blocks.1.mlp.hook_pre", "blocks.1.mlp.hook_post", "blocks.2.hook_attn_out", "blocks.0.hook_resid_pre"]
    with capture(model, sites) as captured, torch.no_grad():
        model.transformer(**batch)
    width, tokens = model.config.n_embd, batch["input_ids"].shape[1]
    assert captured["blocks.1.mlp.hook_pre"].shape == (2, tokens, 4 * width)
    assert captured["blocks.1.mlp.hook_post"].shape == (2, tokens, 4 * width)
    assert captured["blocks.2.hook_attn_out"].shape == (2, tokens, width)
    assert captured["blocks.0.hook_resid_pre"].shape == (2, tokens, width)


def test_hooks_are_removed_after_use_and_on_error(tiny_model):
    model, tokenizer = tiny_model
    before = hook_count(model)
    with capture(model, ["blocks.0.mlp.hook_pre", "blocks.2.hook_mlp_out", "blocks.1.hook_resid_pre"]):
        assert hook_count(model) == before + 3
    assert hook_count(model) == before
    with pytest.raises(RuntimeError, match="boom"):
        with capture(model, ["blocks.0.mlp.hook_post"]):
            raise RuntimeError("boom")
    assert hook_count(model) == before


def test_registration_failure_removes_hooks_already_registered(tiny_model):
    model, _ = tiny_model
    before = hook_count(model)
    with pytest.raises(ValueError, match=r"out of range: the model has blocks 0..2"):
        with hooked(model, {"blocks.0.mlp.hook_pre": lambda value: None, "blocks.9.mlp.hook_pre": lambda value: None}):
            pass
    assert hook_count(model) == before


def test_final_norm_sites_are_read_at_the_final_norm(tiny_model):
    model, _ = tiny_model
    output, normalized = site_access(model, "ln_final.output"), site_access(model, "ln_final.hook_normalized")
    assert (output.module, output.side) == (model.transformer.ln_f, "output")
    assert (normalized.module, normalized.side) == (model.transformer.ln_f, "input")


def test_per_head_sites_keep_batch_and_token_axes(tiny_model):
    model, tokenizer = tiny_model
    batch = tokenizer(["one two three", "four five six seven eight"], return_tensors="pt", padding=True)
    sites = [f"blocks.1.attn.{hook}" for hook in ("hook_q", "hook_k", "hook_v", "hook_z", "hook_pattern")]
    with capture(model, sites) as captured, torch.no_grad():
        model.transformer(**batch)
    heads, tokens = model.config.n_head, batch["input_ids"].shape[1]
    d_head = model.config.n_embd // heads
    for hook in ("hook_q", "hook_k", "hook_v", "hook_z"):
        assert captured[f"blocks.1.attn.{hook}"].shape == (2, tokens, heads, d_head)
    pattern = captured["blocks.1.attn.hook_pattern"]
    assert pattern.shape == (2, tokens, heads, tokens)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(2, tokens, heads))
    assert (pattern.transpose(1, 2).triu(1) == 0).all()  # causal: no weight on a key after its query


def test_the_pattern_under_sdpa_is_the_eager_attention_pattern(tiny_model):
    """Under ``sdpa`` the pattern comes from the family's eager attention beside the ``sdpa`` call: equal to
    what the eager implementation returns, and every other site keeps its ``sdpa`` value."""
    model, tokenizer = tiny_model
    assert model.config._attn_implementation == "sdpa"
    batch = tokenizer(["one two three", "four five six seven eight"], return_tensors="pt", padding=True)
    sites = ["blocks.1.attn.hook_pattern", "blocks.2.hook_resid_pre"]
    with torch.no_grad():
        with capture(model, sites) as sdpa:
            model.transformer(**batch)
        with capture(model, ["blocks.2.hook_resid_pre"]) as plain:
            model.transformer(**batch)
        model.set_attn_implementation("eager")
        try:
            with capture(model, sites) as eager:
                model.transformer(**batch)
        finally:
            model.set_attn_implementation("sdpa")
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(sdpa["blocks.1.attn.hook_pattern"][real], eager["blocks.1.attn.hook_pattern"][real])
    assert torch.equal(sdpa["blocks.2.hook_resid_pre"], plain["blocks.2.hook_resid_pre"])


@pytest.mark.parametrize("site", ["blocks.1.attn.hook_pattern", "blocks.1.hook_resid_mid", "ln_final.hook_normalized"])
def test_read_only_sites_refuse_a_replacement(tiny_model, site):
    model, tokenizer = tiny_model
    batch = tokenizer(["intervene here please"], return_tensors="pt")
    with pytest.raises(ValueError, match="can be read but not replaced"), torch.no_grad():
        with hooked(model, {site: torch.zeros_like}):
            model(**batch)


def test_replacing_one_head_of_a_fused_projection_changes_only_that_head(tiny_model):
    """q, k and v are views of GPT-2's fused ``c_attn`` output: writing head 0 of k leaves q, v and other heads."""
    model, tokenizer = tiny_model
    batch = tokenizer(["intervene here please"], return_tensors="pt")
    sites = ["blocks.0.attn.hook_q", "blocks.0.attn.hook_v"]

    def zero_head_0(value):
        value = value.clone()
        value[:, :, 0] = 0
        return value

    with torch.no_grad(), capture(model, [*sites, "blocks.0.attn.hook_k"]) as clean:
        model(**batch)
        clean = dict(clean)
    with torch.no_grad(), capture(model, sites) as after, hooked(model, {"blocks.0.attn.hook_k": zero_head_0}):
        model(**batch)
    with (
        torch.no_grad(),
        hooked(model, {"blocks.0.attn.hook_k": zero_head_0}),
        capture(model, ["blocks.0.attn.hook_k"]) as k,
    ):
        changed = model(**batch).logits
    for site in sites:
        assert torch.equal(after[site], clean[site])
    assert (k["blocks.0.attn.hook_k"][:, :, 0] == 0).all()
    assert torch.equal(k["blocks.0.attn.hook_k"][:, :, 1:], clean["blocks.0.attn.hook_k"][:, :, 1:])
    assert not torch.allclose(changed, model(**batch).logits)


@pytest.mark.parametrize(
    "site", ["blocks.1.mlp.hook_pre", "blocks.1.mlp.hook_post", "blocks.1.hook_resid_pre", "blocks.1.attn.hook_z"]
)
def test_a_hook_that_returns_a_tensor_replaces_the_site(tiny_model, site):
    """Outputs (forward hooks) and inputs (pre-hooks) alike; the interventions rely on this."""
    model, tokenizer = tiny_model
    batch = tokenizer(["intervene here please"], return_tensors="pt")
    with torch.no_grad():
        clean = model(**batch).logits
        with hooked(model, {site: torch.zeros_like}):
            changed = model(**batch).logits
        again = model(**batch).logits
    assert not torch.allclose(clean, changed)
    torch.testing.assert_close(clean, again)

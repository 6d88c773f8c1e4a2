"""Hooks keep the batch dimension, can replace a site's value, and are always removed."""

import pytest
import torch

from interpflow.hooks import capture, hook_point, hooked


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


def test_final_norm_is_read_at_the_final_norm(tiny_model):
    model, _ = tiny_model
    assert hook_point(model, "ln_final.hook_normalized") == (model.transformer.ln_f, "output")


@pytest.mark.parametrize("site", ["blocks.1.mlp.hook_pre", "blocks.1.mlp.hook_post", "blocks.1.hook_resid_pre"])
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

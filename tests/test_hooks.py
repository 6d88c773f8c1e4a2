"""Forward hooks keep the batch dimension and are always removed."""

import pytest
import torch

from interpflow.hooks import capture, hooked, site_module


def hook_count(model):
    return sum(len(module._forward_hooks) for module in model.modules())


def test_capture_keeps_batch_dimension(tiny_model):
    model, tokenizer = tiny_model
    batch = tokenizer(["one two three", "four five six seven eight"], return_tensors="pt", padding=True)
    with capture(model, ["h.1.mlp.c_fc", "h.2.attn.c_proj"]) as captured:
        with torch.no_grad():
            model.transformer(**batch)
    width = model.config.n_embd
    assert captured["h.1.mlp.c_fc"].shape == (2, batch["input_ids"].shape[1], 4 * width)
    assert captured["h.2.attn.c_proj"].shape == (2, batch["input_ids"].shape[1], width)


def test_hooked_mlp_output_is_the_residual_update(tiny_model):
    """Independent check of what is hooked: mlp.c_proj output = block output - (input + attention output)."""
    model, tokenizer = tiny_model
    batch = tokenizer(["a quick check of the hook site"], return_tensors="pt")
    with capture(model, ["h.1.attn.c_proj", "h.1.mlp.c_proj"]) as captured, torch.no_grad():
        out = model.transformer(**batch, output_hidden_states=True)
    update = out.hidden_states[2] - out.hidden_states[1] - captured["h.1.attn.c_proj"]
    torch.testing.assert_close(captured["h.1.mlp.c_proj"], update, atol=1e-5, rtol=0)


def test_hooks_are_removed_after_use_and_on_error(tiny_model):
    model, tokenizer = tiny_model
    before = hook_count(model)
    with capture(model, ["h.0.mlp.c_fc", "h.2.mlp.c_proj"]):
        assert hook_count(model) == before + 2
    assert hook_count(model) == before
    with pytest.raises(RuntimeError, match="boom"):
        with capture(model, ["h.0.mlp.c_fc"]):
            raise RuntimeError("boom")
    assert hook_count(model) == before


def test_registration_failure_removes_hooks_already_registered(tiny_model):
    model, _ = tiny_model
    before = hook_count(model)
    with pytest.raises(ValueError, match="out of range"):
        with hooked(model, {"h.0.mlp.c_fc": lambda *a: None, "h.9.mlp.c_fc": lambda *a: None}):
            pass
    assert hook_count(model) == before


def test_hidden_states_are_not_hooked(tiny_model):
    with pytest.raises(ValueError, match="read from output.hidden_states"):
        site_module(tiny_model[0], "hidden_states.1")


def test_intervention_hook_replaces_module_output(tiny_model):
    """A hook that returns a tensor changes the forward pass (the interventions rely on this)."""
    model, tokenizer = tiny_model
    batch = tokenizer(["intervene here please"], return_tensors="pt")
    with torch.no_grad():
        clean = model(**batch).logits
        with hooked(model, {"h.1.mlp.c_fc": lambda module, inputs, output: torch.zeros_like(output)}):
            changed = model(**batch).logits
        again = model(**batch).logits
    assert not torch.allclose(clean, changed)
    torch.testing.assert_close(clean, again)

"""PyTorch forward hooks on the Hugging Face GPT-2 modules, always removed afterwards.

Captured tensors keep the batch dimension: ``(batch, tokens, width)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from interpflow.sites import parse_site


def site_module(model: nn.Module, site: str) -> nn.Module:
    """The module whose output is ``site`` (e.g. ``h.5.mlp.c_fc``) in a GPT-2 LM-head model."""
    parsed = parse_site(site)
    if parsed.is_hidden_state:
        raise ValueError(f"{site!r} is a hidden state, read from output.hidden_states, not hooked")
    blocks = model.transformer.h
    if not 0 <= parsed.layer < len(blocks):
        raise ValueError(f"site {site!r} is out of range: the model has layers 0..{len(blocks) - 1}")
    return blocks[parsed.layer].get_submodule(parsed.module)


@contextlib.contextmanager
def hooked(model: nn.Module, hooks: dict[str, Callable]) -> Iterator[None]:
    """Register ``site -> hook(module, inputs, output)`` forward hooks; remove them on exit, also on error."""
    handles = []
    try:
        for site, hook in hooks.items():
            handles.append(site_module(model, site).register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def capture(model: nn.Module, sites: Iterable[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of module ``sites`` during forward passes inside the block.

    Yields a dict that each forward pass fills with ``site -> (batch, tokens, width)`` tensors
    (detached; the last pass wins).
    """
    captured: dict[str, torch.Tensor] = {}

    def recorder(site: str) -> Callable:
        def hook(module, inputs, output):
            captured[site] = output.detach()

        return hook

    with hooked(model, {site: recorder(site) for site in sites}):
        yield captured

"""PyTorch hooks at named sites of any supported model, always removed afterwards.

A site is read either from a module's output (a forward hook) or from its input (a forward
pre-hook); :mod:`interpflow.architectures` says which module and which side per family. Captured
tensors keep the batch dimension: ``(batch, tokens, width)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from interpflow.architectures import INPUT, OUTPUT, adapter_of
from interpflow.sites import FINAL_NORM, parse_site


def _first(value):
    return value[0] if isinstance(value, tuple) else value


def hook_point(model: nn.Module, site: str) -> tuple[nn.Module, str]:
    """``(module, side)``: ``site`` is that module's ``output`` or (first positional) ``input``."""
    adapter = adapter_of(model)
    parsed = parse_site(site)
    if parsed.hook == FINAL_NORM:
        return adapter.final_norm(model), OUTPUT
    blocks = adapter.blocks(model)
    if not 0 <= parsed.layer < len(blocks):
        raise ValueError(f"site {site!r} is out of range: the model has blocks 0..{len(blocks) - 1}")
    block = blocks[parsed.layer]
    if parsed.hook == "hook_resid_pre":
        return block, INPUT
    if parsed.hook == "hook_resid_post":
        return block, OUTPUT
    return adapter.hook_point(block, parsed.hook)


def _block_input(args, kwargs):
    return args[0] if args else kwargs["hidden_states"]


@contextlib.contextmanager
def hooked(model: nn.Module, hooks: dict[str, Callable[[torch.Tensor], torch.Tensor | None]]) -> Iterator[None]:
    """Call ``site -> hook(value)`` at each site in every forward pass inside the block.

    ``value`` is the site's ``(batch, tokens, width)`` tensor; a hook that returns a tensor
    replaces the site's value from there on (an intervention), one that returns ``None`` only reads.
    """
    handles = []
    try:
        for site, hook in hooks.items():
            module, side = hook_point(model, site)
            if side == OUTPUT:

                def on_output(module, inputs, output, hook=hook):
                    replaced = hook(_first(output))
                    if replaced is None:
                        return None
                    return (replaced, *output[1:]) if isinstance(output, tuple) else replaced

                handles.append(module.register_forward_hook(on_output))
            else:

                def on_input(module, args, kwargs, hook=hook):
                    replaced = hook(_block_input(args, kwargs))
                    if replaced is None:
                        return None
                    if args:
                        return (replaced, *args[1:]), kwargs
                    return args, {**kwargs, "hidden_states": replaced}

                handles.append(module.register_forward_pre_hook(on_input, with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def capture(model: nn.Module, sites: Iterable[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record ``sites`` during forward passes inside the block.

    Yields a dict that each forward pass fills with ``site -> (batch, tokens, width)`` tensors
    (detached; the last pass wins).
    """
    captured: dict[str, torch.Tensor] = {}

    def recorder(site: str) -> Callable:
        def record(value):
            captured[site] = value.detach()

        return record

    with hooked(model, {site: recorder(site) for site in sites}):
        yield captured


@contextlib.contextmanager
def block_arguments(model: nn.Module) -> Iterator[list[tuple[tuple, dict]]]:
    """Record, per block, the arguments after the residual stream that the model passes it
    (attention masks, rotary position embeddings, ...), so that a block can be rerun on its own.

    Inside the context every block is the identity (it returns the residual stream it is given), so
    a forward pass costs the embeddings, the masks and the positions, not the blocks.
    """
    blocks = adapter_of(model).blocks(model)
    recorded: list[tuple[tuple, dict]] = [((), {})] * len(blocks)

    def recorder(index: int) -> Callable:
        def record(*args, **kwargs):
            recorded[index] = (tuple(args[1:]), {key: value for key, value in kwargs.items() if key != "hidden_states"})
            return _block_input(args, kwargs)

        return record

    try:
        for index, block in enumerate(blocks):
            block.forward = recorder(index)  # an instance attribute: nn.Module.__call__ calls it
        yield recorded
    finally:
        for block in blocks:
            block.__dict__.pop("forward", None)


def run_block(block: nn.Module, hidden: torch.Tensor, arguments: tuple[tuple, dict]) -> torch.Tensor:
    """``hook_resid_post`` of ``block`` for the residual stream ``hidden``, with recorded ``arguments``."""
    args, kwargs = arguments
    return _first(block(hidden, *args, **kwargs))

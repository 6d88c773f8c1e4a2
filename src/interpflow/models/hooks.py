"""PyTorch hooks at named sites of any supported model, always removed afterwards.

A site is read from a module's output (a forward hook) or its input (a forward pre-hook), cut from
that tensor where it is part of it (one head group of a fused projection, say);
:mod:`interpflow.models.architectures` says which module, which side and which part per family. Captured
tensors keep the batch dimension and the token axis second: ``(batch, tokens, *shape)``
(:mod:`interpflow.models.sites` gives each site's shape).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from interpflow.models.architectures import OUTPUT, SiteAccess, adapter_of
from interpflow.models.sites import parse_site


def site_access(model: nn.Module, site: str) -> SiteAccess:
    """How ``site`` is read and written in ``model`` (module, side, the part of its tensor)."""
    return adapter_of(model).site_access(model, parse_site(site))


def _block_input(args, kwargs):
    return args[0] if args else kwargs["hidden_states"]


def _element(output, index: int):
    return output[index] if isinstance(output, tuple) else output


@contextlib.contextmanager
def hooked(model: nn.Module, hooks: dict[str, Callable[[torch.Tensor], torch.Tensor | None]]) -> Iterator[None]:
    """Call ``site -> hook(value)`` at each site in every forward pass inside the block.

    ``value`` is the site's ``(batch, tokens, *shape)`` tensor; a hook that returns a tensor
    replaces the site's value from there on (an intervention), one that returns ``None`` only reads.
    Replacing a read-only site (``attn.hook_pattern``, ``hook_resid_mid``,
    ``ln_final.hook_normalized``) raises ``ValueError``.
    """
    handles = []
    attention_modules = []
    try:
        for site, hook in hooks.items():
            access = site_access(model, site)
            if access.attention is not None:
                attention_modules.append(access.attention)
            if access.side == OUTPUT:

                def on_output(module, inputs, output, hook=hook, access=access, site=site):
                    raw = _element(output, access.element)
                    replaced = hook(access.read(raw))
                    if replaced is None:
                        return None
                    new = _written(access, site, raw, replaced)
                    if not isinstance(output, tuple):
                        return new
                    return (*output[: access.element], new, *output[access.element + 1 :])

                handles.append(access.module.register_forward_hook(on_output))
            else:

                def on_input(module, args, kwargs, hook=hook, access=access, site=site):
                    raw = _block_input(args, kwargs)
                    replaced = hook(access.read(raw))
                    if replaced is None:
                        return None
                    new = _written(access, site, raw, replaced)
                    if args:
                        return (new, *args[1:]), kwargs
                    return args, {**kwargs, "hidden_states": new}

                handles.append(access.module.register_forward_pre_hook(on_input, with_kwargs=True))
        with attention_weights(model, attention_modules):
            yield
    finally:
        for handle in handles:
            handle.remove()


def _written(access: SiteAccess, site: str, raw: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    try:
        return access.write(raw, value)
    except ValueError:
        raise ValueError(f"site {site!r} can be read but not replaced") from None


@contextlib.contextmanager
def attention_weights(model: nn.Module, modules: list[nn.Module]) -> Iterator[None]:
    """Make the attention ``modules`` return their attention weights ``(batch, head, query, key)``.

    Under the ``eager`` implementation they already do. Otherwise (``sdpa``, say) the model's
    attention function is wrapped: it runs as before, and for these modules the family's own
    ``eager_attention_forward`` computes the weights from the same queries, keys, mask, scaling and
    soft-cap, so the attention output (and every other site) keeps the values it had.
    """
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    implementation = model.config._attn_implementation
    if not modules or implementation == "eager":
        yield
        return
    wanted = set(map(id, modules))
    original = ALL_ATTENTION_FUNCTIONS[implementation]
    overridden = implementation in ALL_ATTENTION_FUNCTIONS._local_mapping

    def with_weights(module, query, key, value, attention_mask, **kwargs):
        output, weights = original(module, query, key, value, attention_mask, **kwargs)
        if weights is None and id(module) in wanted:
            eager = sys.modules[type(module).__module__].eager_attention_forward
            mask = additive_mask(attention_mask, query, key)
            _, weights = eager(module, query, key, value, mask, **(kwargs | {"dropout": 0.0}))
        return output, weights

    ALL_ATTENTION_FUNCTIONS[implementation] = with_weights
    try:
        yield
    finally:
        if overridden:
            ALL_ATTENTION_FUNCTIONS[implementation] = original
        else:
            del ALL_ATTENTION_FUNCTIONS[implementation]


def additive_mask(mask: torch.Tensor | None, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """The mask an eager attention function adds to its scores, from what ``sdpa`` was given:
    ``None`` (causal), a boolean mask (``True`` = attend) or an additive float mask."""
    if mask is not None and mask.dtype != torch.bool:
        return mask
    if mask is None:
        n_query, n_key = query.shape[-2], key.shape[-2]
        mask = torch.ones(n_query, n_key, dtype=torch.bool, device=query.device).tril(n_key - n_query)
    zero = torch.zeros((), dtype=query.dtype, device=query.device)
    return torch.where(mask, zero, torch.finfo(query.dtype).min)


@contextlib.contextmanager
def capture(model: nn.Module, sites: Iterable[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record ``sites`` during forward passes inside the block.

    Yields a dict that each forward pass fills with ``site -> (batch, tokens, *shape)`` tensors
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
    return _element(block(hidden, *args, **kwargs), 0)

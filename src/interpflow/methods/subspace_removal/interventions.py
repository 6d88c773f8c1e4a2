"""Rerun a model with subspace removal at one block's MLP neurons (``blocks.L.mlp.hook_pre`` or
``mlp.hook_post``), for many L.

Two engines give the same :class:`InterventionRun` results:

- :func:`sweep_reference`: one full forward pass per layer with a hook that replaces the neuron
  site (the straightforward loop; kept as the reference);
- :func:`sweep_from_cache`: an intervention at block ``L`` leaves everything before block L's
  MLP unchanged, so each run starts from the cached ``hook_resid_pre``, ``hook_attn_out`` and
  neuron site of block L, finishes block L's MLP with the transformed neurons (the family's
  adapter knows how), and runs only blocks ``L+1..`` -- several runs batched per pass. Each block
  is rerun with the arguments the model itself gave it on one clean pass (masks, rotary position
  embeddings), so the engine depends on no family's attention details.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from interpflow.methods.subspace_removal.subspace import remove_top_components
from interpflow.models.architectures import Adapter, adapter_of
from interpflow.models.hooks import block_arguments, capture, hooked, run_block
from interpflow.models.sites import block_site, residual_streams
from interpflow.runtime.progress import Progress
from interpflow.runtime.schema import option_defaults

log = logging.getLogger(__name__)

BATCH_SIZE = option_defaults("subspace_removal")["batch_size"]  # intervened runs per batched pass


@dataclass
class InterventionRun:
    """One intervened forward pass of one text.

    ``diff_norms``: ``(n_layer + 1,)`` Frobenius norm of clean minus intervened residual stream ``i``
    (:func:`interpflow.models.sites.residual_streams`: ``hook_resid_pre`` of each block, then the final norm);
    ``delta_logprob``: ``(n_tokens - 1,)`` log-probability of each actual next token, clean minus
    intervened (entry ``p - 1`` is the token at position ``p``), in nats;
    ``hidden_after``: ``(n_tokens, d_model)`` intervened residual stream ``L + 1``.
    """

    layer: int
    diff_norms: np.ndarray
    delta_logprob: np.ndarray
    hidden_after: np.ndarray


def next_token_logprobs(logits: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """``(batch, tokens, vocab)`` logits -> ``(batch, tokens - 1)`` log-prob of each next token."""
    logprobs = torch.log_softmax(logits[:, :-1].double(), dim=-1)
    targets = token_ids[1:].expand(logits.shape[0], -1)
    return logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def sweep_reference(
    model, token_ids: torch.Tensor, layers: list[int], n_components: int, neuron_hook: str = "mlp.hook_pre"
) -> list[InterventionRun]:
    """One full forward pass per layer, the neuron site ``neuron_hook`` replaced through a hook.

    ``token_ids``: ``(tokens,)`` one text.
    """
    adapter = adapter_of(model)
    device = next(model.parameters()).device
    ids = token_ids.to(device)[None]
    streams = residual_streams(adapter.n_layer(model.config))

    def forward():
        with capture(model, streams) as captured:
            logits = model(ids, use_cache=False).logits
        return [captured[site] for site in streams], logits

    clean_hidden, clean_logits = forward()
    clean_logprobs = next_token_logprobs(clean_logits, ids[0])
    runs = []
    progress = Progress(len(layers), "layers", "intervened at", log)
    for layer in layers:
        with hooked(model, {block_site(layer, neuron_hook): lambda value: remove_top_components(value, n_components)}):
            hidden, logits = forward()
        norms = [torch.linalg.norm(c - o).item() for c, o in zip(clean_hidden, hidden, strict=True)]
        delta = clean_logprobs - next_token_logprobs(logits, ids[0])
        runs.append(InterventionRun(layer, np.array(norms), delta[0].cpu().numpy(), _numpy(hidden[layer + 1][0])))
        progress.advance()
    return runs


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.float().cpu().numpy()


@torch.no_grad()
def sweep_from_cache(
    model,
    store,
    layers: list[int],
    n_components: int,
    batch_size: int = BATCH_SIZE,
    text_id: int = 0,
    neuron_hook: str = "mlp.hook_pre",
) -> list[InterventionRun]:
    """The same runs as :func:`sweep_reference`, started from the activation store.

    ``store`` must hold the residual streams (:func:`interpflow.models.sites.residual_streams`), and
    ``hook_attn_out`` and ``neuron_hook`` of every swept block. Runs go through in groups of
    ``batch_size``; within a group, a run joins the batch at its own block, so no block runs for a
    run before its layer.
    """
    adapter = adapter_of(model)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    n_layer = adapter.n_layer(model.config)
    rows = store.text_rows(text_id)
    token_ids = torch.as_tensor(store.tokens["token_id"].to_numpy()[rows], dtype=torch.long, device=device)

    def cached(site: str) -> torch.Tensor:
        return torch.as_tensor(store[site][rows], device=device, dtype=dtype)

    clean_hidden = [cached(site) for site in residual_streams(n_layer)]
    clean_logprobs = next_token_logprobs(adapter.unembed(model, clean_hidden[n_layer])[None], token_ids)
    with block_arguments(model) as arguments:  # masks and positions, as the model gives them to its blocks
        model.base_model(token_ids[None], use_cache=False)
    context = SweepContext(model, adapter, arguments, neuron_hook, n_components, cached, clean_hidden)
    runs: list[InterventionRun] = []
    ordered = sorted(layers)
    progress = Progress(len(ordered), "layers", "intervened at", log)
    for first in range(0, len(ordered), batch_size):
        group = ordered[first : first + batch_size]
        runs += _sweep_group(context, group, clean_logprobs, token_ids)
        progress.advance(len(group))
    by_layer = {run.layer: run for run in runs}
    return [by_layer[layer] for layer in layers]


@dataclass
class SweepContext:
    """What every group of a cached sweep shares.

    ``arguments``: per block, what the model passes it besides the residual stream
    (:func:`interpflow.models.hooks.block_arguments`); ``cached``: site name -> ``(tokens, width)`` tensor of
    the swept text; ``clean_hidden``: the text's ``n_layer + 1`` clean residual streams.
    """

    model: torch.nn.Module
    adapter: Adapter
    arguments: list[tuple[tuple, dict]]
    neuron_hook: str
    n_components: int
    cached: Callable[[str], torch.Tensor]
    clean_hidden: list[torch.Tensor]


def _sweep_group(context: SweepContext, group: list[int], clean_logprobs, token_ids) -> list[InterventionRun]:
    """Intervened runs for the sorted layers in ``group``, batched block by block."""
    model, adapter, cached = context.model, context.adapter, context.cached
    blocks = adapter.blocks(model)
    n_layer = len(blocks)
    residual = None  # (active runs, tokens, width): each active run's residual stream
    norms = {layer: np.zeros(n_layer + 1) for layer in group}
    hidden_after = {}
    for index in range(group[0], n_layer):
        if residual is not None:
            residual = run_block(blocks[index], residual, context.arguments[index])
        if index in group:
            neurons = remove_top_components(cached(block_site(index, context.neuron_hook)), context.n_components)
            resid_pre, attn_out = (
                cached(block_site(index, "hook_resid_pre")),
                cached(block_site(index, "hook_attn_out")),
            )
            started = adapter.finish_block(blocks[index], resid_pre, attn_out, context.neuron_hook, neurons)[None]
            residual = started if residual is None else torch.cat([residual, started])
        active = [layer for layer in group if layer <= index]
        hidden = adapter.final_norm(model)(residual) if index == n_layer - 1 else residual
        for row, layer in enumerate(active):
            norms[layer][index + 1] = torch.linalg.norm(context.clean_hidden[index + 1] - hidden[row]).item()
            if layer == index:
                hidden_after[layer] = _numpy(hidden[row])
    final = hidden  # the last block's output after the final norm, from the last iteration
    delta = clean_logprobs - next_token_logprobs(adapter.unembed(model, final), token_ids)
    return [
        InterventionRun(layer, norms[layer], delta[row].cpu().numpy(), hidden_after[layer])
        for row, layer in enumerate(group)
    ]


def run_interventions(
    model,
    store,
    layers: list[int],
    n_components: int,
    engine: str = "cached",
    batch_size: int = BATCH_SIZE,
    neuron_hook: str = "mlp.hook_pre",
):
    """Intervened runs at ``layers`` with the chosen engine (``cached`` or ``reference``)."""
    if engine == "cached":
        return sweep_from_cache(model, store, layers, n_components, batch_size=batch_size, neuron_hook=neuron_hook)
    if engine == "reference":
        token_ids = torch.tensor(store.tokens["token_id"].to_numpy(), dtype=torch.long)
        return sweep_reference(model, token_ids, layers, n_components, neuron_hook=neuron_hook)
    raise ValueError(f"unknown engine {engine!r}: expected 'cached' or 'reference'")

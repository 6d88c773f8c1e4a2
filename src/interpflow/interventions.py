"""Rerun GPT-2 with subspace removal at one block's MLP neurons (``h.L.mlp.c_fc``), for many L.

Two engines give the same :class:`InterventionRun` results:

- :func:`sweep_reference`: one full forward pass per layer with a forward hook that returns the
  transformed ``c_fc`` output (the straightforward loop; kept as the reference);
- :func:`sweep_from_cache`: an intervention at block ``L`` leaves everything before block L's
  MLP unchanged, so each run starts from the cached clean residual stream (``hidden_states.L``
  plus ``h.L.attn.c_proj``) and cached ``h.L.mlp.c_fc``, finishes block L's MLP with the
  transformed neurons, and runs only blocks ``L+1..`` -- several runs batched per pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from interpflow.hooks import hooked
from interpflow.progress import Progress
from interpflow.sites import hidden_state, module_output
from interpflow.subspace import remove_top_components

log = logging.getLogger(__name__)


@dataclass
class InterventionRun:
    """One intervened forward pass of one text.

    ``diff_norms``: ``(n_layer + 1,)`` Frobenius norm of clean minus intervened ``hidden_states[i]``;
    ``delta_logprob``: ``(n_tokens - 1,)`` log-probability of each actual next token, clean minus
    intervened (entry ``p - 1`` is the token at position ``p``), in nats;
    ``hidden_after``: ``(n_tokens, n_embd)`` intervened ``hidden_states[L + 1]``.
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
def sweep_reference(model, token_ids: torch.Tensor, layers: list[int], n_components: int) -> list[InterventionRun]:
    """One full forward pass per layer, the ``c_fc`` output replaced through a forward hook.

    ``token_ids``: ``(tokens,)`` one text.
    """
    device = next(model.parameters()).device
    ids = token_ids.to(device)[None]
    clean = model(ids, output_hidden_states=True)
    clean_logprobs = next_token_logprobs(clean.logits, ids[0])
    runs = []
    progress = Progress(len(layers), "layers", "intervened at", log)
    for layer in layers:

        def remove(module, inputs, output):
            return remove_top_components(output, n_components)

        with hooked(model, {module_output(layer, "mlp.c_fc"): remove}):
            out = model(ids, output_hidden_states=True)
        norms = [torch.linalg.norm(c - o).item() for c, o in zip(clean.hidden_states, out.hidden_states, strict=True)]
        delta = clean_logprobs - next_token_logprobs(out.logits, ids[0])
        runs.append(
            InterventionRun(layer, np.array(norms), delta[0].cpu().numpy(), _numpy(out.hidden_states[layer + 1][0]))
        )
        progress.advance()
    return runs


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.float().cpu().numpy()


def causal_mask(n_tokens: int, dtype: torch.dtype, device) -> torch.Tensor:
    """``(1, 1, tokens, tokens)`` additive mask: 0 on and below the diagonal, -inf-like above."""
    blocked = torch.ones(n_tokens, n_tokens, dtype=torch.bool, device=device).triu(1)
    return torch.zeros(n_tokens, n_tokens, dtype=dtype, device=device).masked_fill(blocked, torch.finfo(dtype).min)[
        None, None
    ]


def _run_block(block, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = block(hidden, attention_mask=mask)
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def sweep_from_cache(
    model, store, layers: list[int], n_components: int, batch_size: int = 8, text_id: int = 0
) -> list[InterventionRun]:
    """The same runs as :func:`sweep_reference`, started from the activation store.

    ``store`` must hold ``hidden_states.0..n_layer``, and ``h.L.attn.c_proj`` and
    ``h.L.mlp.c_fc`` for every swept ``L``. Runs go through in groups of ``batch_size``; within a
    group, a run joins the batch at its own block, so no block runs for a run before its layer.
    """
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    n_layer = model.config.n_layer
    rows = store.text_rows(text_id)
    token_ids = torch.as_tensor(store.tokens["token_id"].to_numpy()[rows], dtype=torch.long, device=device)

    def cached(site: str) -> torch.Tensor:
        return torch.as_tensor(store[site][rows], device=device, dtype=dtype)

    clean_hidden = [cached(hidden_state(i)) for i in range(n_layer + 1)]
    clean_logprobs = next_token_logprobs(model.lm_head(clean_hidden[n_layer])[None], token_ids)
    mask = causal_mask(len(token_ids), dtype, device)
    runs: list[InterventionRun] = []
    ordered = sorted(layers)
    progress = Progress(len(ordered), "layers", "intervened at", log)
    for first in range(0, len(ordered), batch_size):
        group = ordered[first : first + batch_size]
        runs += _sweep_group(model, group, n_components, clean_hidden, clean_logprobs, token_ids, mask, cached)
        progress.advance(len(group))
    by_layer = {run.layer: run for run in runs}
    return [by_layer[layer] for layer in layers]


def _sweep_group(model, group, n_components, clean_hidden, clean_logprobs, token_ids, mask, cached):
    """Intervened runs for the sorted layers in ``group``, batched block by block."""
    blocks = model.transformer.h
    n_layer = len(blocks)
    residual = None  # (active runs, tokens, width): each active run's residual stream
    norms = {layer: np.zeros(n_layer + 1) for layer in group}
    hidden_after = {}
    for index in range(group[0], n_layer):
        if residual is not None:
            residual = _run_block(blocks[index], residual, mask)
        if index in group:
            mlp = blocks[index].mlp
            neurons = remove_top_components(cached(module_output(index, "mlp.c_fc")), n_components)
            started = cached(hidden_state(index)) + cached(module_output(index, "attn.c_proj"))
            started = (started + mlp.dropout(mlp.c_proj(mlp.act(neurons))))[None]
            residual = started if residual is None else torch.cat([residual, started])
        active = [layer for layer in group if layer <= index]
        hidden = model.transformer.ln_f(residual) if index == n_layer - 1 else residual
        for row, layer in enumerate(active):
            norms[layer][index + 1] = torch.linalg.norm(clean_hidden[index + 1] - hidden[row]).item()
            if layer == index:
                hidden_after[layer] = _numpy(hidden[row])
    final = hidden  # the last block's output after ln_f, from the last iteration
    delta = clean_logprobs - next_token_logprobs(model.lm_head(final), token_ids)
    return [
        InterventionRun(layer, norms[layer], delta[row].cpu().numpy(), hidden_after[layer])
        for row, layer in enumerate(group)
    ]


def run_interventions(model, store, layers: list[int], n_components: int, engine: str = "cached", batch_size: int = 8):
    """Intervened runs at ``layers`` with the chosen engine (``cached`` or ``reference``)."""
    if engine == "cached":
        return sweep_from_cache(model, store, layers, n_components, batch_size=batch_size)
    if engine == "reference":
        token_ids = torch.tensor(store.tokens["token_id"].to_numpy(), dtype=torch.long)
        return sweep_reference(model, token_ids, layers, n_components)
    raise ValueError(f"unknown engine {engine!r}: expected 'cached' or 'reference'")

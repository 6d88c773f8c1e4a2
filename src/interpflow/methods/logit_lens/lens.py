"""The logit lens: every residual stream of a text read through the model's final norm and unembedding.

Layer ``i`` is the residual stream entering block ``i`` (``blocks.<i>.hook_resid_pre``) for
``i < n_layer``, and layer ``n_layer`` the stream leaving the last block
(``blocks.<n_layer - 1>.hook_resid_post``). Its logits are ``unembed(final_norm(resid))`` as the model
computes its own (:meth:`interpflow.models.architectures.Adapter.unembed`, soft-capping included), on the
same ``(1, tokens, d_model)`` tensor shape as the model's forward pass of that text alone, so the last
layer's logits are the model's, bit for bit. Probabilities, ranks and the KL divergence are computed in
float64 from the log-softmax, :data:`ROWS` positions at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from interpflow.models.architectures import adapter_of
from interpflow.models.hooks import capture
from interpflow.models.sites import block_site

ROWS = 64
LENS_COLUMNS = [
    "text_id",
    "position",
    "layer",
    "site",
    "token",
    "next_token",
    "next_token_rank",
    "next_token_prob",
    "target_rank",
    "target_prob",
    "kl_to_final",
]
TOP_COLUMNS = ["text_id", "position", "layer", "rank", "token_id", "token", "prob"]


def lens_sites(n_layer: int) -> list[str]:
    """The site of each layer ``0..n_layer`` (module docstring)."""
    return [block_site(layer, "hook_resid_pre") for layer in range(n_layer)] + [
        block_site(n_layer - 1, "hook_resid_post")
    ]


@torch.no_grad()
def residual_streams(model: nn.Module, token_ids: list[int]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every layer's ``(1, tokens, d_model)`` residual stream of one text, and the model's own logits."""
    sites = lens_sites(len(adapter_of(model).blocks(model)))
    device = next(model.parameters()).device
    with capture(model, sites) as captured:
        logits = model(torch.tensor([token_ids], device=device), use_cache=False).logits
    return [captured[site] for site in sites], logits


@torch.no_grad()
def lens_logits(model: nn.Module, residual: torch.Tensor) -> torch.Tensor:
    """``(1, tokens, vocab)`` logits of a residual stream read as the model reads its last one."""
    adapter = adapter_of(model)
    return adapter.unembed(model, adapter.final_norm(model)(residual))


def ranks(log_probs: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """1-based rank of ``tokens`` ``(rows,)`` in each row of ``log_probs`` ``(rows, vocab)``: 1 + how many
    tokens are strictly more probable."""
    chosen = log_probs.gather(1, tokens[:, None])
    return (log_probs > chosen).sum(dim=1) + 1


@torch.no_grad()
def row_statistics(
    logits: torch.Tensor, log_final: torch.Tensor, next_ids: torch.Tensor, target: int | None, top_k: int
) -> dict[str, torch.Tensor]:
    """For rows (positions) of one layer's ``(rows, vocab)`` logits: the rank and probability of
    ``next_ids`` ``(rows,)`` and of ``target``, the KL divergence from the final layer's distribution
    (``log_final``, its log-probabilities) to this one, in nats, and the ``top_k`` tokens and probabilities."""
    log_p = torch.log_softmax(logits.double(), dim=-1)
    top = torch.topk(log_p, top_k, dim=1)
    stats = {
        "next_rank": ranks(log_p, next_ids),
        "next_prob": log_p.gather(1, next_ids[:, None])[:, 0].exp(),
        "kl": (log_final.exp() * (log_final - log_p)).sum(dim=1),
        "top_ids": top.indices,
        "top_probs": top.values.exp(),
    }
    if target is not None:
        stats["target_rank"] = ranks(log_p, torch.full_like(next_ids, target))
        stats["target_prob"] = log_p[:, target].exp()
    return stats


@torch.no_grad()
def text_statistics(model: nn.Module, token_ids: list[int], target: int | None, top_k: int) -> dict[str, np.ndarray]:
    """:func:`row_statistics` of every position of one text at every layer: ``(layers, tokens)`` arrays
    (``(layers, tokens, top_k)`` for the top tokens). Positions go :data:`ROWS` at a
    time through every layer (so memory holds a few ``(ROWS, vocab)`` float64 arrays); the last layer
    is the model's own logits, computed on the whole text."""
    streams, own = residual_streams(model, token_ids)
    final = own[0]  # the last layer: the model's own logits, which lens_logits(streams[-1]) equals bit for bit
    next_ids = torch.tensor(token_ids[1:] + token_ids[-1:], device=final.device)  # the last one a placeholder
    # Filled in place: results kept as many small tensors between the large temporaries would pin the
    # allocator's heap, and memory would grow with every layer.
    shape = (len(streams), len(token_ids))
    out = {name: torch.zeros(shape, dtype=torch.float64) for name in ("next_prob", "target_prob", "kl")}
    out |= {name: torch.zeros(shape, dtype=torch.long) for name in ("next_rank", "target_rank")}
    out |= {
        "top_ids": torch.zeros((*shape, top_k), dtype=torch.long),
        "top_probs": torch.zeros((*shape, top_k), dtype=torch.float64),
    }
    for start in range(0, len(token_ids), ROWS):
        rows = slice(start, start + ROWS)
        log_final = torch.log_softmax(final[rows].double(), dim=-1)
        for layer, residual in enumerate(streams):
            logits = final[rows] if layer == len(streams) - 1 else lens_logits(model, residual[:, rows])[0]
            for name, value in row_statistics(logits, log_final, next_ids[rows], target, top_k).items():
                out[name][layer, rows] = value
    if target is None:
        del out["target_rank"], out["target_prob"]
    return {name: value.numpy() for name, value in out.items()}


def text_lens(
    model: nn.Module, tokenizer, token_ids: list[int], text_id: int, target: int | None, top_k: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of ``lens.parquet`` and ``top_tokens.parquet`` (:data:`LENS_COLUMNS`, :data:`TOP_COLUMNS`) for
    one text; the last position has no next token (its ``next_token`` columns are empty)."""
    stats = text_statistics(model, token_ids, target, top_k)
    n_layers, n_tokens = stats["kl"].shape
    stats = {name: value.reshape(n_layers * n_tokens, *value.shape[2:]) for name, value in stats.items()}
    layers = np.repeat(np.arange(n_layers), n_tokens)
    positions = np.tile(np.arange(n_tokens), n_layers)
    last = positions == n_tokens - 1
    words = [tokenizer.decode([token]) for token in token_ids]
    no_target = np.full(len(layers), np.nan)
    lens = pd.DataFrame(
        {
            "text_id": text_id,
            "position": positions,
            "layer": layers,
            "site": np.repeat(lens_sites(n_layers - 1), n_tokens),
            "token": words * n_layers,
            "next_token": (words[1:] + [None]) * n_layers,
            "next_token_rank": pd.array(np.where(last, np.nan, stats["next_rank"]), dtype="Int64"),
            "next_token_prob": np.where(last, np.nan, stats["next_prob"]),
            "target_rank": pd.array(stats.get("target_rank", no_target), dtype="Int64"),
            "target_prob": stats.get("target_prob", no_target),
            "kl_to_final": stats["kl"],
        }
    )
    top_ids = stats["top_ids"].reshape(-1)
    top = pd.DataFrame(
        {
            "text_id": text_id,
            "position": np.repeat(positions, top_k),
            "layer": np.repeat(layers, top_k),
            "rank": np.tile(np.arange(1, top_k + 1), len(layers)),
            "token_id": top_ids,
            "token": [tokenizer.decode([token]) for token in top_ids.tolist()],
            "prob": stats["top_probs"].reshape(-1),
        }
    )
    return lens[LENS_COLUMNS], top[TOP_COLUMNS]


def logit_lens(
    model: nn.Module, tokenizer, texts: list[str], target: str | None, top_k: int
) -> dict[str, pd.DataFrame]:
    """``lens`` and ``top_tokens`` tables of a text set, one text at a time (module docstring);
    ``target``: a token string (with its leading space) to follow at every layer, or ``None``."""
    target_id = None
    if target is not None:
        ids = tokenizer.encode(target, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(f"target {target!r} is {len(ids)} tokens, not one")
        target_id = ids[0]
    lens, top = [], []
    for text_id, token_ids in enumerate(tokenizer(texts)["input_ids"]):
        text_rows, top_rows = text_lens(model, tokenizer, token_ids, text_id, target_id, top_k)
        lens.append(text_rows)
        top.append(top_rows)
    return {"lens": pd.concat(lens, ignore_index=True), "top_tokens": pd.concat(top, ignore_index=True)}

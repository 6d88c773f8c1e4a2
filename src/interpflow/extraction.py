"""Extract activations: one batched forward pass over a text set, hooks at every needed site."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from interpflow.activation_store import ActivationStore
from interpflow.hooks import capture
from interpflow.progress import Progress

log = logging.getLogger(__name__)


@torch.no_grad()
def extract_activations(model, tokenizer, texts: list[str], sites: list[str], batch_size: int = 16) -> ActivationStore:
    """Run ``model`` over ``texts`` and keep the activations at ``sites``.

    Texts go through in batches of ``batch_size``, right-padded with an attention mask; only
    the transformer runs (no LM head). Padding positions are dropped before anything is kept,
    so the store holds ``(n_real_tokens, *shape)`` float32 arrays (:mod:`interpflow.sites`); an
    attention pattern's key axis spans the longest text, zero past each token's own position.
    """
    sites = list(dict.fromkeys(sites))  # each site once, in the order given
    device = next(model.parameters()).device
    base = model.base_model  # the transformer without its LM head
    kept: dict[str, list[np.ndarray]] = {site: [] for site in sites}
    token_frames = []
    progress = Progress(len(texts), "texts", "extracted", log)
    with capture(model, sites) as captured:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True).to(device)
            base(**batch, use_cache=False)
            real = batch["attention_mask"].bool()
            for site in sites:
                kept[site].append(captured[site][real].float().cpu().numpy())
            for offset, (ids, mask) in enumerate(zip(batch["input_ids"].cpu(), real.cpu(), strict=True)):
                token_frames.append(token_table(tokenizer, start + offset, ids[mask].tolist()))
            progress.advance(len(real))
    tokens = pd.concat(token_frames, ignore_index=True)
    return ActivationStore(tokens=tokens, arrays={site: concatenate_rows(kept[site]) for site in sites})


def concatenate_rows(chunks: list[np.ndarray]) -> np.ndarray:
    """Batches' ``(rows, ..., keys)`` arrays as one, the last axis zero-padded to the longest
    (attention patterns: each batch's key axis is its own padded length)."""
    if len({chunk.shape[1:] for chunk in chunks}) > 1:
        longest = max(chunk.shape[-1] for chunk in chunks)
        pad = [(0, 0)] * (chunks[0].ndim - 1)
        chunks = [np.pad(chunk, [*pad, (0, longest - chunk.shape[-1])]) for chunk in chunks]
    return np.concatenate(chunks)


def token_table(tokenizer, text_id: int, token_ids: list[int]) -> pd.DataFrame:
    """Rows ``text_id, position, token_id, token`` of one text."""
    return pd.DataFrame(
        {
            "text_id": np.full(len(token_ids), text_id, dtype=np.int32),
            "position": np.arange(len(token_ids), dtype=np.int32),
            "token_id": np.asarray(token_ids, dtype=np.int32),
            "token": tokenizer.batch_decode([[token] for token in token_ids]),
        }
    )

"""Extract activations: one batched forward pass over a text set, hooks at every needed site.

The workflow's stage writes the store to disk a batch at a time (:func:`extract_to_files`), so its
memory is one batch and the model, not texts x sites; :func:`extract_activations` keeps it in memory.
"""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack

import numpy as np
import pandas as pd
import torch

from interpflow.models.hooks import capture
from interpflow.models.sites import parse_site
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.progress import Progress
from interpflow.stores.activation_store import TOKEN_COLUMNS, ActivationStore, store_header
from interpflow.stores.tensor_stream import TensorStreamWriter

log = logging.getLogger(__name__)


@torch.no_grad()
def extract_activations(model, tokenizer, texts: list[str], sites: list[str], batch_size: int = 16) -> ActivationStore:
    """Run ``model`` over ``texts`` and keep the activations at ``sites``, in memory.

    Texts go through in batches of ``batch_size``, right-padded with an attention mask; only
    the transformer runs (no LM head). Padding positions are dropped before anything is kept,
    so the store holds ``(n_real_tokens, *shape)`` float32 arrays (:mod:`interpflow.models.sites`); an
    attention pattern's key axis spans the longest text, zero past each token's own position.
    :func:`extract_to_files` writes the same store to disk a batch at a time.
    """
    sites = list(dict.fromkeys(sites))  # each site once, in the order given
    kept: dict[str, list[np.ndarray]] = {site: [] for site in sites}
    for rows in _batches(model, tokenizer, texts, sites, batch_size):
        for site in sites:
            kept[site].append(rows[site])
    tokens = texts_token_table(tokenizer, tokenizer(texts)["input_ids"])
    return ActivationStore(tokens=tokens, arrays={site: concatenate_rows(kept[site]) for site in sites})


@torch.no_grad()
def extract_to_files(
    model,
    tokenizer,
    texts: list[str],
    sites: list[str],
    tensor_path: str | os.PathLike,
    token_path: str | os.PathLike,
    metadata: dict | None = None,
    batch_size: int = 16,
) -> int:
    """:func:`extract_activations`, written as :func:`interpflow.stores.activation_store.save_store` writes
    it, a batch at a time: memory holds one batch's activations and the token table, whatever the
    number of texts. Returns the number of tokens stored."""
    sites = list(dict.fromkeys(sites))
    # The token table first: built during the passes, its many small pieces would pin the memory of
    # every batch's freed activations (the allocator cannot return a heap with live blocks at its top).
    tokens = texts_token_table(tokenizer, tokenizer(texts)["input_ids"])
    n_tokens, longest = len(tokens), int(tokens["position"].max()) + 1
    with ExitStack() as stack:
        writer = None
        for rows in _batches(model, tokenizer, texts, sites, batch_size):
            if writer is None:  # the shapes are known from the first batch (a pattern's key axis: the longest text)
                shapes = {site: _stored_shape(site, rows[site].shape[1:], longest) for site in sites}
                tensors = {site: ("F32", (n_tokens, *shapes[site])) for site in sites}
                writer = stack.enter_context(TensorStreamWriter(tensor_path, tensors, store_header(sites, metadata)))
            for site in sites:
                writer.write(site, _pad_keys(rows[site], shapes[site]))
    write_parquet(tokens[TOKEN_COLUMNS], token_path)
    return n_tokens


def _batches(model, tokenizer, texts: list[str], sites: list[str], batch_size: int):
    """Per batch of texts, each site's ``(real tokens of the batch, *shape)`` float32 array."""
    device = next(model.parameters()).device
    base = model.base_model  # the transformer without its LM head
    progress = Progress(len(texts), "texts", "extracted", log)
    with capture(model, sites) as captured:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True).to(device)
            base(**batch, use_cache=False)
            real = batch["attention_mask"].bool()
            yield {site: captured[site][real].float().cpu().numpy() for site in sites}
            progress.advance(len(real))


def _stored_shape(site: str, shape: tuple[int, ...], longest: int) -> tuple[int, ...]:
    """A site's per-token shape in the store: an attention pattern's key axis spans the longest text."""
    return (*shape[:-1], longest) if parse_site(site).hook == "attn.hook_pattern" else tuple(shape)


def _pad_keys(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``rows`` with its last axis zero-padded to ``shape``'s (a batch's pattern spans its own longest text)."""
    missing = shape[-1] - rows.shape[-1]
    return np.pad(rows, [(0, 0)] * (rows.ndim - 1) + [(0, missing)]) if missing else rows


def concatenate_rows(chunks: list[np.ndarray]) -> np.ndarray:
    """Batches' ``(rows, ..., keys)`` arrays as one, the last axis zero-padded to the longest
    (attention patterns: each batch's key axis is its own padded length)."""
    if len({chunk.shape[1:] for chunk in chunks}) > 1:
        longest = max(chunk.shape[-1] for chunk in chunks)
        pad = [(0, 0)] * (chunks[0].ndim - 1)
        chunks = [np.pad(chunk, [*pad, (0, longest - chunk.shape[-1])]) for chunk in chunks]
    return np.concatenate(chunks)


def texts_token_table(tokenizer, token_ids: list[list[int]]) -> pd.DataFrame:
    """The store's token table (:mod:`interpflow.stores.activation_store`) of texts with these token ids."""
    return pd.concat([token_table(tokenizer, text_id, ids) for text_id, ids in enumerate(token_ids)], ignore_index=True)


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

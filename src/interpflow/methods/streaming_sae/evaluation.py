"""Evaluate a corpus SAE on held-out shards and find what each latent responds to, streaming.

One pass over the held-out windows (a block of about ``block_tokens`` tokens at a time) gives:

- ``evaluation.parquet`` and ``latents.parquet``, the metrics both SAE methods report
  (:mod:`interpflow.sae.metrics`), here over all held-out tokens;
- ``top_contexts.parquet``, per latent its ``top_k`` largest activations: ``latent``, ``rank``
  (0 = largest), ``activation``, ``shard``, ``window``, ``position``, and the text around it:
  ``before`` (up to ``context_before`` tokens), ``token``, ``after`` (up to ``context_after``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

from interpflow.runtime.progress import Progress
from interpflow.sae.metrics import LatentStatistics, ReconstructionStatistics
from interpflow.sae.streaming import token_rows
from interpflow.stores.corpus_store import CorpusStore
from interpflow.stores.word_categories import category_positions

CONTEXT_COLUMNS = ["latent", "rank", "activation", "shard", "window", "position", "before", "token", "after"]


class _TopActivations:
    """The ``k`` largest values per latent seen so far, with where they were."""

    def __init__(self, latents: int, k: int, device):
        self.values = torch.full((latents, k), -torch.inf, device=device)
        self.where = torch.full((latents, k, 3), -1, dtype=torch.int64, device=device)

    def add(self, z: torch.Tensor, where: torch.Tensor) -> None:
        """``z`` ``(tokens, latents)``; ``where`` ``(tokens, 3)``: shard, window, position of each token."""
        k = min(self.values.shape[1], z.shape[0])
        top = z.T.topk(k, dim=1)
        values = torch.cat([self.values, top.values], dim=1)
        places = torch.cat([self.where, where[top.indices]], dim=1)
        best = values.topk(self.values.shape[1], dim=1)
        self.values = best.values
        self.where = places.gather(1, best.indices.unsqueeze(-1).expand(-1, -1, 3))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    store: CorpusStore,
    site: str,
    shards: list[int],
    vocabulary: list[str],
    category: dict | None = None,
    top_k: int = 10,
    block_tokens: int = 4096,
    context_before: int = 12,
    context_after: int = 4,
    log=None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three tables of the module docstring for the latents of ``model`` over ``shards``;
    ``category``: ``{"name", "words"}`` or None. ``model(x)`` gives ``(x_hat, z)`` (any SAE of
    :mod:`interpflow.sae`, trained or pretrained)."""
    device = next(model.parameters()).device
    width = store.width(site)
    latents = model.W_dec.shape[0]  # every SAE's decoder is (latents, input)
    bos = int(store.prepend_bos)
    block = max(block_tokens // store.context_size, 1)
    reconstruction, statistics = ReconstructionStatistics(width, latents), LatentStatistics(latents)
    top = _TopActivations(latents, top_k, device)
    progress = Progress(sum(store.windows(shard) for shard in shards), "windows", "evaluated", log) if log else None
    for shard in shards:
        for start in range(0, store.windows(shard), block):
            indices = np.arange(start, min(start + block, store.windows(shard)))
            x = token_rows(store.activations(site, shard, indices), store.prepend_bos).to(device)
            x_hat, z = model(x)
            reconstruction.add(x, x_hat, z)
            marked = None
            if category is not None:
                rows = store.token_ids(shard, indices).tolist()
                marked = np.concatenate(
                    [category_positions([vocabulary[i] for i in row], category["words"])[bos:] for row in rows]
                )
            statistics.add(z, None if marked is None else torch.from_numpy(marked))
            positions = torch.arange(bos, store.context_size)
            where = torch.stack(
                torch.broadcast_tensors(
                    torch.tensor(shard)[None, None], torch.from_numpy(indices)[:, None], positions[None, :]
                ),
                dim=-1,
            ).reshape(-1, 3)
            top.add(z, where.to(device))
            if progress:
                progress.advance(len(indices))
    if category is not None and statistics.category_tokens == 0:
        # the held-out windows are first read here, so this cannot be a start-up error
        logging.getLogger(__name__).warning(
            "none of the category words %s occurs in the %d held-out tokens: every latent's category score "
            "is 0; name words the corpus holds",
            category["words"],
            statistics.tokens,
        )
    scores = statistics.table(None if category is None else category["name"])
    contexts = _context_table(top, store, vocabulary, context_before, context_after)
    return reconstruction.table(), scores, contexts


def _context_table(top: _TopActivations, store: CorpusStore, vocabulary, before: int, after: int) -> pd.DataFrame:
    values, where = top.values.cpu(), top.where.cpu()
    latent, rank = torch.nonzero(values > 0, as_tuple=True)
    places = where[latent, rank].numpy()
    rows = pd.DataFrame(
        {
            "latent": latent.numpy(),
            "rank": rank.numpy(),
            "activation": values[latent, rank].numpy().astype(np.float64),
            "shard": places[:, 0],
            "window": places[:, 1],
            "position": places[:, 2],
        }
    )
    texts = {"before": [], "token": [], "after": []}
    tokens_of: dict[tuple[int, int], list[int]] = {}
    for shard in rows["shard"].unique():
        windows = sorted(rows.loc[rows["shard"] == shard, "window"].unique())
        for window, ids in zip(windows, store.token_ids(int(shard), windows).tolist(), strict=True):
            tokens_of[(int(shard), int(window))] = ids
    for shard, window, position in rows[["shard", "window", "position"]].itertuples(index=False):
        ids = tokens_of[(shard, window)]
        texts["before"].append("".join(vocabulary[i] for i in ids[max(position - before, 0) : position]))
        texts["token"].append(vocabulary[ids[position]])
        texts["after"].append("".join(vocabulary[i] for i in ids[position + 1 : position + 1 + after]))
    return rows.assign(**texts)[CONTEXT_COLUMNS]

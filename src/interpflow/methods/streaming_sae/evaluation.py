"""Evaluate a corpus SAE on held-out shards and find what each latent responds to, streaming.

One pass over the held-out windows (a block of about ``block_tokens`` tokens at a time) gives:

- ``evaluation.parquet`` (one row): ``tokens``; ``fvu``, the fraction of variance unexplained
  ``Σ‖x − x̂‖² / Σ‖x − mean(x)‖²`` (mean over all held-out tokens); ``mse`` (per element);
  ``l0``, mean number of non-zero latents per token; ``dead_fraction``, the fraction of latents
  that are zero on every held-out token;
- ``latents.parquet``, one row per latent: ``density`` (fraction of tokens where it is non-zero),
  ``mean_activation`` (mean of its non-zero values; 0 if none) and, with a word category,
  ``<category>_score``: its mean non-zero activation on the category's tokens over that on all
  other tokens (0 where either has none), as the lecture's score;
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
from interpflow.sae.streaming import token_rows
from interpflow.stores.corpus_store import CorpusStore
from interpflow.stores.word_categories import category_positions

EVALUATION_COLUMNS = ["tokens", "fvu", "mse", "l0", "dead_fraction"]
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
    category_words: list[str] | None = None,
    top_k: int = 10,
    block_tokens: int = 4096,
    context_before: int = 12,
    context_after: int = 4,
    log=None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three tables of the module docstring for the latents of ``model`` over ``shards``."""
    device = next(model.parameters()).device
    latents = model.encode(torch.zeros(1, store.width(site), device=device)).shape[1]
    bos = int(store.prepend_bos)
    block = max(block_tokens // store.context_size, 1)
    width = store.width(site)
    error, n = 0.0, 0
    sums, squares = torch.zeros(width, dtype=torch.float64), torch.zeros(width, dtype=torch.float64)
    fires = torch.zeros(latents, dtype=torch.int64)
    totals = torch.zeros(latents, dtype=torch.float64)
    l0_sum = 0
    on_category = [torch.zeros(latents, dtype=torch.float64), torch.zeros(latents, dtype=torch.int64)]
    category_tokens = 0
    off_category = [torch.zeros(latents, dtype=torch.float64), torch.zeros(latents, dtype=torch.int64)]
    top = _TopActivations(latents, top_k, device)
    total_windows = sum(store.windows(shard) for shard in shards)
    progress = Progress(total_windows, "windows", "evaluated", log) if log else None
    for shard in shards:
        for start in range(0, store.windows(shard), block):
            indices = np.arange(start, min(start + block, store.windows(shard)))
            x = token_rows(store.activations(site, shard, indices), store.prepend_bos).to(device)
            z = model.encode(x)
            x_hat = model.decode(z)
            error += float(((x - x_hat) ** 2).sum(dtype=torch.float64))
            sums += x.sum(0, dtype=torch.float64).cpu()
            squares += (x.double() ** 2).sum(0).cpu()
            n += len(x)
            active = (z != 0).cpu()
            l0_sum += int(active.sum())
            fires += active.sum(0)
            totals += z.sum(0, dtype=torch.float64).cpu()
            positions = torch.arange(bos, store.context_size)
            where = torch.stack(
                torch.broadcast_tensors(
                    torch.tensor(shard)[None, None], torch.from_numpy(indices)[:, None], positions[None, :]
                ),
                dim=-1,
            ).reshape(-1, 3)
            top.add(z, where.to(device))
            if category_words:
                ids = store.token_ids(shard, indices)
                marked = torch.from_numpy(
                    np.concatenate(
                        [category_positions([vocabulary[i] for i in row], category_words)[bos:] for row in ids.tolist()]
                    )
                )
                category_tokens += int(marked.sum())
                for accumulate, rows in ((on_category, marked), (off_category, ~marked)):
                    accumulate[0] += z[rows.to(device)].sum(0, dtype=torch.float64).cpu()
                    accumulate[1] += active[rows].sum(0)
            if progress:
                progress.advance(len(indices))
    spread = float((squares - sums**2 / n).sum())
    evaluation = pd.DataFrame(
        [(n, error / spread, error / (n * width), l0_sum / n, float((fires == 0).double().mean()))],
        columns=EVALUATION_COLUMNS,
    )
    scores = pd.DataFrame(
        {
            "latent": np.arange(latents),
            "density": (fires.double() / n).numpy(),
            "mean_activation": _ratio(totals, fires),
        }
    )
    if category_words is not None:
        if category_tokens == 0:  # the held-out windows are first read here, so this cannot be a start-up error
            logging.getLogger(__name__).warning(
                "none of the category words %s occurs in the %d held-out tokens: every latent's category score "
                "is 0; name words the corpus holds",
                category_words,
                n,
            )
        on, off = _ratio(*on_category), _ratio(*off_category)
        scores["category_score"] = np.divide(on, off, out=np.zeros_like(on), where=(on > 0) & (off > 0))
    contexts = _context_table(top, store, vocabulary, context_before, context_after)
    return evaluation, scores, contexts


def _ratio(sums: torch.Tensor, counts: torch.Tensor) -> np.ndarray:
    sums, counts = sums.numpy(), counts.numpy()
    return np.divide(sums, counts, out=np.zeros(len(sums)), where=counts > 0)


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

"""Evaluate a corpus SAE on held-out shards and find what each latent responds to, streaming.

One pass over the held-out windows (a block of about ``block_tokens`` tokens at a time) gives:

- ``evaluation.parquet``, the metrics both SAE methods report (:mod:`interpflow.sae.evaluation.metrics`),
  here over the held-out tokens that are not special tokens (the tokenizer's BOS, EOS and PAD ids, wherever
  they stand), as SAELens and SAEBench measure them; given the language model, it adds what the model loses
  with the SAE spliced in (:mod:`interpflow.sae.evaluation.spliced`), from its own passes over the same windows;
- ``latents.parquet``, each latent's statistics over every held-out token the SAE reads;
- ``top_contexts.parquet``, per latent its ``top_k`` largest activations: ``latent``, ``rank``
  (0 = largest), ``activation``, ``shard``, ``window``, ``position``, and the text around it:
  ``before`` (up to ``context_before`` tokens), ``token``, ``after`` (up to ``context_after``).

A second pass, once each latent's largest activation is known, gives:

- ``activation_histograms.parquet``: each latent's non-zero activations in ``histogram_bins`` bins
  from 0 to its largest (:class:`~interpflow.sae.evaluation.metrics.ActivationHistograms`);
- ``context_activations.parquet``, every token of every top context with the latent's activation
  there, to shade the whole context: ``latent``, ``rank``, ``offset`` (from the activating token, which
  is 0), ``token``, ``activation``; positions the SAE does not read (a window's BOS) are left out.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

from interpflow.runtime.progress import Progress
from interpflow.sae.core.streaming import token_rows
from interpflow.sae.evaluation.metrics import ActivationHistograms, LatentStatistics, ReconstructionStatistics
from interpflow.sae.evaluation.spliced import special_positions, spliced_losses
from interpflow.stores.corpus_store import CorpusStore
from interpflow.stores.word_categories import category_positions

CONTEXT_COLUMNS = ["latent", "rank", "activation", "shard", "window", "position", "before", "token", "after"]
CONTEXT_ACTIVATION_COLUMNS = ["latent", "rank", "offset", "token", "activation"]


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


def _blocks(store: CorpusStore, site: str, shards: list[int], block_windows: int, device):
    """``(shard, window indices, x)`` for each block of held-out windows, ``x`` ``(tokens, width)`` on ``device``."""
    for shard in shards:
        for start in range(0, store.windows(shard), block_windows):
            indices = np.arange(start, min(start + block_windows, store.windows(shard)))
            yield shard, indices, token_rows(store.activations(site, shard, indices), store.prepend_bos).to(device)


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
    histogram_bins: int = 20,
    language_model: nn.Module | None = None,
    spliced_batch_tokens: int = 1024,
    special_ids=(),
    exclude_special_tokens_from_reconstruction: bool = True,
    log=None,
) -> dict[str, pd.DataFrame]:
    """The tables of the module docstring, by name, for the latents of ``model`` over
    ``shards``; ``category``: ``{"name", "words"}`` or None. ``model(x)`` gives ``(x_hat, z)`` (any SAE of
    :mod:`interpflow.sae`, trained or pretrained). ``special_ids``: the tokenizer's BOS, EOS and PAD ids, left
    out of the evaluation table's means. With ``language_model`` (the model whose site it reads), the
    evaluation table adds the spliced metrics, ``spliced_batch_tokens`` tokens per forward pass, the special
    tokens kept clean in the spliced pass when ``exclude_special_tokens_from_reconstruction``."""
    device = next(model.parameters()).device
    width = store.width(site)
    latents = model.W_dec.shape[0]  # every SAE's decoder is (latents, input)
    bos = int(store.prepend_bos)
    block = max(block_tokens // store.context_size, 1)
    reconstruction, statistics = ReconstructionStatistics(width, latents), LatentStatistics(latents)
    top = _TopActivations(latents, top_k, device)
    total = sum(store.windows(shard) for shard in shards)
    passes = 2 + (language_model is not None)
    progress = Progress(passes * total, "windows", f"evaluated ({passes} passes)", log) if log else None
    for shard, indices, x in _blocks(store, site, shards, block, device):
        x_hat, z = model(x)
        ids = torch.as_tensor(store.token_ids(shard, indices)[:, bos:].reshape(-1), dtype=torch.long)
        evaluated = ~special_positions(ids, special_ids).to(device)
        reconstruction.add(x[evaluated], x_hat[evaluated], z[evaluated])
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
    contexts = _context_table(top, store, vocabulary, context_before, context_after)
    histograms = ActivationHistograms(top.values[:, 0], histogram_bins)
    shading = _ContextShading(contexts, store, context_before, context_after)
    for shard, indices, x in _blocks(store, site, shards, block, device):
        z = model.encode(x)
        histograms.add(z)
        shading.add(shard, indices, z)
        if progress:
            progress.advance(len(indices))
    evaluation = reconstruction.table()
    if language_model is not None:
        spliced = spliced_losses(
            language_model,
            model,
            store,
            site,
            shards,
            spliced_batch_tokens,
            special_ids,
            exclude_special_tokens_from_reconstruction,
            progress,
        )
        evaluation = pd.concat([evaluation, spliced], axis=1)
    return {
        "evaluation": evaluation,
        "latents": statistics.table(None if category is None else category["name"]),
        "top_contexts": contexts,
        "activation_histograms": histograms.table(),
        "context_activations": shading.table(vocabulary),
    }


class _ContextShading:
    """The latent's activation at every token of each top context (``context_activations.parquet``)."""

    def __init__(self, contexts: pd.DataFrame, store: CorpusStore, before: int, after: int):
        self.contexts, self.store = contexts.reset_index(drop=True), store
        self.offsets = np.arange(-before, after + 1)
        self.values = np.full((len(contexts), len(self.offsets)), np.nan)
        # per shard, the contexts' rows ordered by window: a block's contexts are one slice of them
        self.by_shard = {
            int(shard): rows.sort_values("window", kind="stable") for shard, rows in self.contexts.groupby("shard")
        }

    def add(self, shard: int, indices: np.ndarray, z: torch.Tensor) -> None:
        """A block's latents ``z`` ``(tokens, latents)``, of windows ``indices`` (consecutive) of ``shard``."""
        bos, size = int(self.store.prepend_bos), self.store.context_size
        rows = self.by_shard.get(int(shard))
        if rows is None:
            return
        windows = rows["window"].to_numpy()
        start, stop = np.searchsorted(windows, indices[0], "left"), np.searchsorted(windows, indices[-1], "right")
        here = rows.index[start:stop]
        if not len(here):
            return
        chosen = self.contexts.loc[here]
        local = np.searchsorted(indices, chosen["window"].to_numpy())
        positions = chosen["position"].to_numpy()[:, None] + self.offsets[None, :]
        read = (positions >= bos) & (positions < size)
        rows = local[:, None] * (size - bos) + np.clip(positions, bos, size - 1) - bos
        latent = np.broadcast_to(chosen["latent"].to_numpy()[:, None], rows.shape)
        values = z[torch.from_numpy(rows.reshape(-1)), torch.from_numpy(latent.reshape(-1))].double().cpu().numpy()
        self.values[here] = np.where(read, values.reshape(rows.shape), np.nan)

    def table(self, vocabulary: list[str]) -> pd.DataFrame:
        """:data:`CONTEXT_ACTIVATION_COLUMNS`, one row per context token the SAE read."""
        context, column = np.nonzero(~np.isnan(self.values))
        chosen = self.contexts.iloc[context]
        positions = chosen["position"].to_numpy() + self.offsets[column]
        ids = _window_tokens(self.store, chosen[["shard", "window"]].drop_duplicates())
        tokens = [
            vocabulary[ids[(shard, window)][position]]
            for shard, window, position in zip(chosen["shard"], chosen["window"], positions, strict=True)
        ]
        return pd.DataFrame(
            {
                "latent": chosen["latent"].to_numpy(),
                "rank": chosen["rank"].to_numpy(),
                "offset": self.offsets[column],
                "token": tokens,
                "activation": self.values[context, column],
            }
        )[CONTEXT_ACTIVATION_COLUMNS]


def _window_tokens(store: CorpusStore, places: pd.DataFrame) -> dict[tuple[int, int], list[int]]:
    """``(shard, window) -> token ids`` of the windows in ``places`` (columns ``shard``, ``window``)."""
    tokens_of: dict[tuple[int, int], list[int]] = {}
    for shard in places["shard"].unique():
        windows = sorted(places.loc[places["shard"] == shard, "window"].unique())
        for window, ids in zip(windows, store.token_ids(int(shard), windows).tolist(), strict=True):
            tokens_of[(int(shard), int(window))] = ids
    return tokens_of


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
    tokens_of = _window_tokens(store, rows[["shard", "window"]])
    for shard, window, position in rows[["shard", "window", "position"]].itertuples(index=False):
        ids = tokens_of[(shard, window)]
        texts["before"].append("".join(vocabulary[i] for i in ids[max(position - before, 0) : position]))
        texts["token"].append(vocabulary[ids[position]])
        texts["after"].append("".join(vocabulary[i] for i in ids[position + 1 : position + 1 + after]))
    return rows.assign(**texts)[CONTEXT_COLUMNS]

"""The clean prompt of a pair, read back from its text set's activation store."""

from __future__ import annotations

import torch


def clean_activations(
    store, index: int, token_ids: list[int], sites: list[str], device, dtype
) -> dict[str, torch.Tensor]:
    """Pair ``index``'s clean prompt at each of ``sites`` ``(tokens, *shape)``, as ``dtype`` on ``device``;
    ``ValueError`` where the store's tokens of that text are not ``token_ids`` (a stale extraction)."""
    rows = store.text_rows(index)
    if store.tokens["token_id"].to_numpy()[rows].tolist() != list(token_ids):
        raise ValueError(f"pair {index}: the store's clean tokens differ from the text set's; rerun its extraction")
    return {site: torch.as_tensor(store[site][rows], device=device, dtype=dtype) for site in sites}

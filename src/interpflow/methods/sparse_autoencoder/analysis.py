"""sparse_autoencoder: what the latents of a k-sparse autoencoder on MLP neurons respond to.

The SAE itself (:mod:`interpflow.sae.autoencoder`) trains in the model stage; this module says what to
extract and scores the latents: density, mean non-zero activation, and a category score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCORE_COLUMNS = ["latent", "density_pct", "mean_nonzero"]


def sae_dimensions(sae: dict, input_dim: int) -> dict:
    """``latent_dim`` and ``k`` from the ``sae`` options (``k: null`` is ``input_dim // 3``, the lecture's choice)."""
    return {"latent_dim": sae["latent_factor"] * input_dim, "k": sae["k"] or input_dim // 3}


def mean_nonzero(values: np.ndarray) -> np.ndarray:
    """Per column: mean of the non-zero absolute values (0 for a column with none)."""
    counts = (values != 0).sum(axis=0)
    sums = np.abs(values).sum(axis=0)
    return np.divide(sums, counts, out=np.zeros(values.shape[1]), where=counts > 0)


def latent_scores(latents: np.ndarray, is_target: np.ndarray, category: str) -> pd.DataFrame:
    """``latents.parquet``: one row per latent.

    ``density_pct``: % of tokens where the latent is non-zero; ``mean_nonzero``: mean non-zero
    activation; ``<category>_score``: mean non-zero activation on target tokens divided by that on
    the other tokens (0 when either has no non-zero activation).
    """
    on_target, off_target = mean_nonzero(latents[is_target]), mean_nonzero(latents[~is_target])
    score = np.divide(on_target, off_target, out=np.zeros_like(on_target), where=(on_target > 0) & (off_target > 0))
    return pd.DataFrame(
        {
            "latent": np.arange(latents.shape[1]),
            "density_pct": 100 * (latents != 0).mean(axis=0),
            "mean_nonzero": mean_nonzero(latents),
            f"{category}_score": score,
        }
    )


def ranked(scores: pd.DataFrame, column: str, rank: int) -> int:
    """The latent at 0-based ``rank`` when sorted by ``column``, largest first (stable)."""
    order = scores.sort_values(column, ascending=False, kind="stable")["latent"].to_numpy()
    if not 0 <= rank < len(order):
        raise ValueError(f"rank {rank} is out of range: there are {len(order)} latents")
    return int(order[rank])

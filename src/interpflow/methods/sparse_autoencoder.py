"""sparse_autoencoder: what the latents of a k-sparse autoencoder on MLP neurons respond to.

The SAE itself (:mod:`interpflow.sae`) trains in the model stage; this module says what to
extract and scores the latents: density, mean non-zero activation, and a category score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interpflow.comparison import Run, stack_runs
from interpflow.errors import ConfigError
from interpflow.layers import resolve_layer
from interpflow.sites import block_site
from interpflow.word_categories import category_positions

SCORE_COLUMNS = ["latent", "density_pct", "mean_nonzero"]
COMPARISON_COLUMNS = ["instance", "model", "n_layer", "epoch", "total_loss", "mse_loss", "final_fvu"]


def sae_layer(instance: dict, n_layer: int) -> int:
    """The hooked layer; ``middle`` is ``n_layer // 2`` as in the lecture."""
    return resolve_layer(instance["layer"], n_layer)


def sae_site(instance: dict, n_layer: int) -> str:
    """The site the SAE is trained on: the MLP neurons (``neuron_site``) of :func:`sae_layer`."""
    return block_site(sae_layer(instance, n_layer), instance["neuron_site"])


def configured_layers(instance: dict, n_layer: int) -> list[tuple[str, int | str]]:
    return [("layer", instance["layer"])]


def required_sites(instance: dict, n_layer: int) -> list[str]:
    return [sae_site(instance, n_layer)]


def sae_dimensions(sae: dict, input_dim: int) -> dict:
    """``latent_dim`` and ``k`` from the ``sae`` options (``k: null`` is ``input_dim // 3``, the lecture's choice)."""
    return {"latent_dim": sae["latent_factor"] * input_dim, "k": sae["k"] or input_dim // 3}


def check_text(instance: dict, key: str, tokenized) -> None:
    """The category scores something: at least one of its words occurs in the text set.

    Words that occur nowhere while others do are allowed (a category list may be generous); the
    score job logs how many tokens the category marked."""
    tokenizer = tokenized.tokenizer
    words = instance["category"]["words"]
    for ids in tokenized.ids(instance["text"]):
        if category_positions([tokenizer.decode([token]) for token in ids], words).any():
            return
    raise ConfigError(
        f"{key}.category.words",
        f"none of {words} occurs in text set '{instance['text']}' (as a whole word after a space), so no latent "
        "could be scored; name words the text holds, or run the instance on a text that holds them",
    )


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


def comparison_table(training_logs: list[pd.DataFrame], final_fvus: list[float], runs: list[Run]) -> pd.DataFrame:
    """``comparison.parquet``: every run's loss curves, one row per (instance, model, epoch), with
    the run's fraction of variance unexplained after training (``final_fvu``, the same on each of its rows)."""
    logs = [
        log[["epoch", "total_loss", "mse_loss"]].assign(final_fvu=fvu)
        for log, fvu in zip(training_logs, final_fvus, strict=True)
    ]
    return stack_runs(logs, runs)[COMPARISON_COLUMNS]

"""sparse_autoencoder: every run of the method side by side, from each run's cached tables."""

from __future__ import annotations

import pandas as pd

from interpflow.plotting.comparison import curves_and_finals
from interpflow.runtime.comparison import Run, stack_runs

COMPARISON_COLUMNS = ["instance", "model", "n_layer", "step", "loss", "mse", "final_fvu"]


def comparison_table(
    runs: list[Run], training_logs: list[pd.DataFrame], evaluations: list[pd.DataFrame]
) -> pd.DataFrame:
    """``comparison.parquet``: every run's loss curves, one row per (instance, model, step), with
    the run's fraction of variance unexplained after training (``final_fvu``: its
    ``evaluation.parquet``'s ``fvu``, the same on each of its rows)."""
    logs = [
        log[["step", "loss", "mse"]].assign(final_fvu=float(evaluation["fvu"].iloc[0]))
        for log, evaluation in zip(training_logs, evaluations, strict=True)
    ]
    return stack_runs(logs, runs)[COMPARISON_COLUMNS]


def comparison_figure(table: pd.DataFrame):
    """Every run's reconstruction loss by epoch, and its fraction of variance unexplained after training."""
    labels = {
        "x": "Epoch (one full-batch step each)",
        "y": "reconstruction MSE",
        "curves": "Loss curves",
        "final": "fraction of variance unexplained",
        "finals": "FVU after training (lower is better)",
    }
    return curves_and_finals(table, "step", "mse", "final_fvu", labels, log_y=True)

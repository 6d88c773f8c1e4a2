"""streaming_sae: every run's training curve and held-out FVU side by side."""

from __future__ import annotations

import pandas as pd

from interpflow.plotting.comparison import curves_and_finals
from interpflow.runtime.comparison import Run, stack_runs

COMPARISON_COLUMNS = ["instance", "model", "n_layer", "step", "tokens", "fvu", "l0", "dead_fraction", "heldout_fvu"]


def comparison_table(
    runs: list[Run], training_logs: list[pd.DataFrame], evaluations: list[pd.DataFrame]
) -> pd.DataFrame:
    """``comparison.parquet``: every run's training curve, one row per logged step, with the run's
    held-out FVU (``heldout_fvu``, the same on each of its rows). A pretrained SAE (an empty training log:
    it was not trained here) has one row, its curve columns empty (NaN)."""
    curve = ["step", "tokens", "fvu", "l0", "dead_fraction"]
    logs = [
        (log[curve] if len(log) else pd.DataFrame({column: [float("nan")] for column in curve})).assign(
            heldout_fvu=float(evaluation["fvu"].iloc[0])
        )
        for log, evaluation in zip(training_logs, evaluations, strict=True)
    ]
    return stack_runs(logs, runs)[COMPARISON_COLUMNS]


def comparison_figure(table: pd.DataFrame):
    """Every run's minibatch FVU against training tokens, and its held-out FVU."""
    labels = {
        "x": "training tokens",
        "y": "fraction of variance unexplained",
        "curves": "Training (minibatch FVU)",
        "final": "fraction of variance unexplained",
        "finals": "Held-out FVU (lower is better)",
    }
    return curves_and_finals(table, "tokens", "fvu", "heldout_fvu", labels)

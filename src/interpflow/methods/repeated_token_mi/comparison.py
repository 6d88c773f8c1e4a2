"""repeated_token_mi: every run of the method side by side, from each run's cached tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from interpflow.methods.repeated_token_mi.analysis import SUMMARY_COLUMNS
from interpflow.plotting.comparison import by_depth, legend_below
from interpflow.plotting.style import FULL_WIDTH
from interpflow.runtime.comparison import Run, stack_runs

COMPARISON_COLUMNS = ["instance", "model", "n_layer", "layer", "relative_depth", *SUMMARY_COLUMNS[1:]]


def comparison_table(runs: list[Run], layer_summaries: list[pd.DataFrame]) -> pd.DataFrame:
    """``comparison.parquet``: every run's layer summary (mean MI, Kendall's tau), one row per
    (instance, model, layer, sublayer, estimator)."""
    return stack_runs(layer_summaries, runs)[COMPARISON_COLUMNS]


def comparison_figure(table: pd.DataFrame):
    """Mean pair MI and Kendall's tau (MI against distance) by depth for every run; attention solid, MLP dashed."""
    fig, axes = plt.subplots(2, 2, figsize=(FULL_WIDTH, 7), squeeze=False)
    units = {"histogram": "bits", "knn": "nats"}
    for row, estimator in enumerate(("histogram", "knn")):
        rows = table[table["estimator"] == estimator]
        by_depth(axes[row, 0], rows, "mean_mi", f"mean pair MI ({units[estimator]})", style_by="sublayer")
        axes[row, 0].set_title(f"{estimator}: mean MI between occurrences")
        by_depth(axes[row, 1], rows, "kendall_tau", "Kendall's τ", style_by="sublayer")
        axes[row, 1].axhline(0, linestyle="--", color="gray", linewidth=0.8)
        axes[row, 1].set_title(f"{estimator}: τ of pair MI against token distance")
    legend_below(fig, axes[0, 0])
    return fig

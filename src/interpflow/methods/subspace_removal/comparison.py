"""subspace_removal: every run of the method side by side, from each run's cached tables."""

from __future__ import annotations

import pandas as pd

from interpflow.methods.subspace_removal.analysis import LAYER_SWEEP_COLUMNS
from interpflow.plotting.comparison import by_depth, legend_below, panels
from interpflow.runtime.comparison import Run, stack_runs

COMPARISON_COLUMNS = ["instance", "model", "n_layer", "layer", "relative_depth", *LAYER_SWEEP_COLUMNS[1:]]


def comparison_table(runs: list[Run], layer_sweeps: list[pd.DataFrame]) -> pd.DataFrame:
    """``comparison.parquet``: every run's layer sweep, one row per (instance, model, layer)."""
    return stack_runs(layer_sweeps, runs)[COMPARISON_COLUMNS]


def comparison_figure(table: pd.DataFrame):
    """Every run's layer sweep side by side: t of Δ log P and the top component's variance, by depth."""
    fig, (ax_t, ax_var) = panels(2)
    by_depth(ax_t, table, "t_statistic", "t statistic")
    ax_t.axhline(0, linestyle="--", color="gray", linewidth=0.8)
    ax_t.set_title("t-test of Δ log P against zero")
    by_depth(ax_var, table, "top_pc_variance_pct", "% variance")
    ax_var.set_title("Variance of the removed top component")
    legend_below(fig, ax_t)
    return fig

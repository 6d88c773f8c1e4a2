"""residual_decomposition: every run's residual identity side by side, by depth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from interpflow.plotting.comparison import by_depth, legend_below, panels
from interpflow.runtime.comparison import Run, stack_runs

COMPARISON_COLUMNS = [
    "instance",
    "model",
    "n_layer",
    "layer",
    "relative_depth",
    "pearson_r",
    "max_abs_reconstruction_error",
]


def comparison_table(runs: list[Run], correlations: list[pd.DataFrame]) -> pd.DataFrame:
    """``comparison.parquet``: the residual identity of every run, one row per (instance, model, block):
    r between the reconstruction and the next hidden state, and the largest absolute error."""
    identity = [table[table["comparison"] == "reconstruction_vs_next_hs"] for table in correlations]
    return stack_runs(identity, runs)[COMPARISON_COLUMNS]


def comparison_figure(table: pd.DataFrame):
    """The residual identity of every run by depth: r and the largest absolute error.

    The last block differs: the final hidden state is read after the final norm."""
    table = table.assign(error_floor=np.maximum(table["max_abs_reconstruction_error"], 1e-12))
    fig, (ax_r, ax_err) = panels(2)
    by_depth(ax_r, table, "pearson_r", "Pearson r")
    ax_r.set_title("r(residual + attention + MLP, next residual)")
    by_depth(ax_err, table, "error_floor", "max |reconstruction $-$ next|\n(0 drawn at 1e-12)", log=True)
    ax_err.set_title("Largest reconstruction error")
    legend_below(fig, ax_r)
    return fig

"""direct_logit_attribution: every run's attention and MLP terms by depth, side by side."""

from __future__ import annotations

import pandas as pd

from interpflow.plotting.comparison import by_depth, legend_below, panels
from interpflow.runtime.comparison import Run, stack_runs

COMPARISON_COLUMNS = ["instance", "model", "n_layer", "layer", "relative_depth", "component", "attribution", "fraction"]
COMPONENTS = {"attn": "attention update", "mlp": "MLP update"}


def comparison_table(runs: list[Run], attribution: list[pd.DataFrame]) -> pd.DataFrame:
    """``comparison.parquet``: one row per (instance, model, block, component): the block's attention or
    MLP direct term (mean over the pairs) and its fraction of the mean logit difference."""
    blocks = [table[table["component"].isin(list(COMPONENTS))] for table in attribution]
    return stack_runs([table[["layer", "component", "attribution", "fraction"]] for table in blocks], runs)[
        COMPARISON_COLUMNS
    ]


def comparison_figure(table: pd.DataFrame):
    """One panel per component: each run's fraction of the logit difference by depth."""
    fig, axes = panels(len(COMPONENTS))
    for ax, (component, title) in zip(axes, COMPONENTS.items(), strict=True):
        by_depth(ax, table[table["component"] == component], "fraction", "fraction of the logit difference")
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.set_title(title)
    legend_below(fig, axes[0])
    return fig

"""neuron_contrast: every run of the method side by side, from each run's cached tables."""

from __future__ import annotations

import pandas as pd

from interpflow.plotting.comparison import by_depth, legend_below, panels
from interpflow.runtime.comparison import Run, stack_runs

COMPARISON_COLUMNS = ["instance", "model", "n_layer", "layer", "relative_depth", "n_significant", "n_neurons"]


def comparison_table(runs: list[Run], neuron_tests: list[pd.DataFrame]) -> pd.DataFrame:
    """``comparison.parquet``: significant neurons (after the correction) per tested layer of every run."""
    counts = [
        tests.groupby("layer", sort=True)["significant"].agg(n_significant="sum", n_neurons="size").reset_index()
        for tests in neuron_tests
    ]
    return stack_runs(counts, runs)[COMPARISON_COLUMNS]


def comparison_figure(table: pd.DataFrame):
    """Significant neurons per tested layer of every run: count and share of the layer's neurons."""
    table = table.assign(pct_significant=100 * table["n_significant"] / table["n_neurons"])
    fig, (ax_n, ax_pct) = panels(2)
    by_depth(ax_n, table, "n_significant", "significant neurons")
    ax_n.set_title("Neurons that tell the two groups apart")
    by_depth(ax_pct, table, "pct_significant", "% of the layer's neurons")
    ax_pct.set_title("Share of the layer's neurons")
    legend_below(fig, ax_n)
    return fig

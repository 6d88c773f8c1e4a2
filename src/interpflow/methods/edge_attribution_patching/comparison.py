"""edge_attribution_patching: every run's circuit by depth, side by side."""

from __future__ import annotations

import pandas as pd

from interpflow.plotting.comparison import by_depth, legend_below, panels
from interpflow.runtime.comparison import Run, stack_runs

COMPARISON_COLUMNS = ["instance", "model", "n_layer", "layer", "relative_depth", "source", "score", "circuit_edges"]


def comparison_table(runs: list[Run], edges: list[pd.DataFrame]) -> pd.DataFrame:
    """``comparison.parquet``: one row per (instance, model, block, source kind: ``head`` or ``mlp``): the
    summed |score| of the edges leaving that block's heads (or MLP), and how many of them are in the circuit."""
    blocks = []
    for table in edges:
        sources = table[table["source"].isin(["head", "mlp"])].assign(magnitude=lambda t: t["score"].abs())
        grouped = sources.groupby(["source_layer", "source"], as_index=False).agg(
            score=("magnitude", "sum"), circuit_edges=("in_circuit", "sum")
        )
        blocks.append(
            grouped.rename(columns={"source_layer": "layer"}).astype({"layer": "int64", "circuit_edges": "int64"})
        )
    return stack_runs(blocks, runs)[COMPARISON_COLUMNS]


def comparison_figure(table: pd.DataFrame):
    """One panel per source kind: each run's summed |edge score| leaving each block, by depth."""
    fig, axes = panels(2)
    for ax, (source, title) in zip(axes, {"head": "heads", "mlp": "MLP"}.items(), strict=True):
        by_depth(ax, table[table["source"] == source], "score", "summed |edge score| leaving the block")
        ax.set_title(title)
    legend_below(fig, axes[0])
    return fig

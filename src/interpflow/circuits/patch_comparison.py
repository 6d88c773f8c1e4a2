"""Comparisons of patching scores across runs: each run's strongest slot per block and site, by depth."""

from __future__ import annotations

import pandas as pd

from interpflow.plotting.comparison import by_depth, legend_below, panels
from interpflow.runtime.comparison import Run, stack_runs

COMPARISON_COLUMNS = ["instance", "model", "n_layer", "layer", "relative_depth", "site", "max_score", "argmax"]


def strongest_slots(runs: list[Run], patching: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per (instance, model, site, block): ``max_score``, the largest score of any position (or
    head) in that block, and ``argmax``, that position (or head)."""
    strongest = []
    for table in patching:
        slot = table["position"].fillna(table["head"]).astype(int)
        table = table.assign(slot=slot).sort_values(["site", "layer", "score"], ascending=[True, True, False])
        best = table.drop_duplicates(["site", "layer"]).rename(columns={"score": "max_score", "slot": "argmax"})
        strongest.append(best[["layer", "site", "max_score", "argmax"]])
    return stack_runs(strongest, runs)[COMPARISON_COLUMNS]


def strongest_slots_figure(table: pd.DataFrame, ylabel: str):
    """One panel per site: each run's largest score in each block, by depth (0 and 1 marked)."""
    sites = list(dict.fromkeys(table["site"]))
    fig, axes = panels(len(sites))
    for ax, site in zip(axes, sites, strict=True):
        by_depth(ax, table[table["site"] == site], "max_score", ylabel)
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.axhline(1, color="0.6", linewidth=0.8, linestyle="--")
        ax.set_title(site)
    legend_below(fig, axes[0])
    return fig

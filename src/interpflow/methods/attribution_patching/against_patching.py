"""Attribution patching against activation patching on the same pairs and model: slot by slot, per site."""

from __future__ import annotations

import numpy as np
import pandas as pd

from interpflow.plotting.comparison import panels

KEYS = ["site", "layer", "position", "head"]
AGAINST_COLUMNS = [*KEYS, "patching_score", "attribution_score"]


def against_patching_table(attribution: pd.DataFrame, patching: pd.DataFrame) -> pd.DataFrame:
    """``against_patching.parquet``: every slot both estimated and patched, with both scores."""
    scores = patching[KEYS + ["score"]].rename(columns={"score": "patching_score"})
    estimated = attribution[KEYS + ["score"]].rename(columns={"score": "attribution_score"})
    return scores.merge(estimated, on=KEYS, how="inner", validate="one_to_one")[AGAINST_COLUMNS]


def site_correlation(rows: pd.DataFrame) -> float:
    """Pearson r of the two scores over one site's slots (NaN where either is constant)."""
    x, y = rows["patching_score"].to_numpy(float), rows["attribution_score"].to_numpy(float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def against_patching_figure(table: pd.DataFrame):
    """One panel per site: each slot's attribution-patching score against its activation-patching score,
    the identity dashed, Pearson r in the title."""
    sites = list(dict.fromkeys(table["site"]))
    fig, axes = panels(len(sites), height=3.6)
    for ax, site in zip(axes, sites, strict=True):
        rows = table[table["site"] == site]
        ax.scatter(rows["patching_score"], rows["attribution_score"], s=10, alpha=0.7)
        low = float(np.nanmin([rows["patching_score"].min(), rows["attribution_score"].min(), 0.0]))
        high = float(np.nanmax([rows["patching_score"].max(), rows["attribution_score"].max(), 1.0]))
        ax.plot([low, high], [low, high], color="0.6", linewidth=0.8, linestyle="--")
        ax.set(xlabel="activation patching score", title=f"{site} (r = {site_correlation(rows):.2f})")
    axes[0].set_ylabel("attribution patching score")
    fig.tight_layout()
    return fig

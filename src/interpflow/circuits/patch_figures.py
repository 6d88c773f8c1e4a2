"""Heatmaps of patching scores: one per patched site, scores by block and position (or head)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from interpflow.circuits.patch_tables import PER_HEAD_SITES
from interpflow.plotting.style import DIVERGING_CMAP, FULL_WIDTH


def score_matrix(rows: pd.DataFrame, column: str) -> tuple[np.ndarray, list[int]]:
    """``(layers, columns)`` scores of one site, and the ``column`` values (positions or heads) in order."""
    keys = sorted(rows[column].astype(int).unique())
    matrix = rows.pivot_table(index="layer", columns=rows[column].astype(int), values="score", aggfunc="first")
    return matrix.reindex(columns=keys).to_numpy(dtype=float), keys


def patching_figure(table: pd.DataFrame, tokens: list[str]):
    """Every patched site's score, 0 (corrupted) to 1 (clean), block by position (``tokens``: the first
    clean prompt's, to label positions) or block by head."""
    sites = list(dict.fromkeys(table["site"]))
    limit = max(1.0, float(np.nanmax(np.abs(table["score"])))) if table["score"].notna().any() else 1.0
    widths = [1.6 if site in PER_HEAD_SITES else 3 for site in sites]
    fig, axes = plt.subplots(
        1, len(sites), figsize=(FULL_WIDTH, 4.6), squeeze=False, gridspec_kw={"width_ratios": widths}
    )
    for index, (ax, site) in enumerate(zip(axes[0], sites, strict=True)):
        rows = table[table["site"] == site]
        column = "head" if site in PER_HEAD_SITES else "position"
        matrix, keys = score_matrix(rows, column)
        image = ax.imshow(matrix, origin="lower", aspect="auto", cmap=DIVERGING_CMAP, vmin=-limit, vmax=limit)
        ax.set_xticks(range(len(keys)))
        if site in PER_HEAD_SITES:
            ax.set(xlabel="Head", title=f"{site}\n(per head)")
            ax.set_xticklabels(keys, fontsize=7)
        else:
            ax.set(title=site)
            ax.set_xlabel("Position (first pair's clean tokens)", fontsize=8)
            ax.set_xticklabels([f"{tokens[key]!r}"[1:-1] for key in keys], rotation=90, fontsize=7)
        if index == 0:
            ax.set_ylabel("Transformer block")
    fig.colorbar(image, ax=list(axes[0]), pad=0.01, fraction=0.03, label="score (0 = corrupted, 1 = clean)")
    return fig

"""Panels that several analyses draw."""

from __future__ import annotations

import numpy as np


def significance_scatter(
    ax,
    x,
    y,
    significant,
    significant_label: str,
    rest_label: str,
    colour: str,
    marker: str = "o",
    markersize: float = 5,
    rest_markersize: float = 4,
) -> None:
    """Test statistics ``y`` at ``x``: significant ones as filled markers, the rest as red crosses."""
    x, y, significant = np.asarray(x), np.asarray(y), np.asarray(significant, dtype=bool)
    ax.plot(
        x[~significant], y[~significant], "x", color="tab:red", markersize=rest_markersize, alpha=0.6, label=rest_label
    )
    ax.plot(
        x[significant],
        y[significant],
        marker,
        color=colour,
        markeredgecolor="k",
        markersize=markersize,
        label=significant_label,
    )

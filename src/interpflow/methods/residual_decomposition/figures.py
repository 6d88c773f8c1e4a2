"""Figures of residual_decomposition: the seed's 2x2 scatter panel and the by-layer profile."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from interpflow.methods.residual_decomposition.analysis import COMPARISONS

PANEL_COLOURS = ["#b3b3e6", "#b3e6b3", "#b3e6b3", "#e6b3b3"]


def plot_decomposition(values: pd.DataFrame, table: pd.DataFrame, layer: int, marker_size: float, alpha: float):
    """2x2 scatter of the four comparisons at ``layer``; titles give Pearson r from ``table``."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    for ax, colour, (name, (xlabel, ylabel)) in zip(axes.flat, PANEL_COLOURS, COMPARISONS.items(), strict=True):
        points = values[(values["layer"] == layer) & (values["comparison"] == name)]
        ax.plot(
            points["x"],
            points["y"],
            "o",
            color=colour,
            markeredgecolor="k",
            markeredgewidth=0.3,
            markersize=marker_size,
            alpha=alpha,
        )
        row = table[(table["layer"] == layer) & (table["comparison"] == name)].iloc[0]
        ax.set(
            xlabel=xlabel.format(layer=layer, next=layer + 1),
            ylabel=ylabel.format(layer=layer, next=layer + 1),
            title=f"r = {row['pearson_r']:.3f}  (n = {row['n_values']:,})",
        )
    fig.suptitle(f"Block {layer}: hidden states vs hooked attention and MLP outputs")
    fig.tight_layout()
    return fig


def plot_layer_profile(table: pd.DataFrame):
    """Pearson r of each comparison and the max reconstruction error, by layer."""
    fig, (ax_r, ax_err) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name in COMPARISONS:
        rows = table[table["comparison"] == name].sort_values("layer")
        ax_r.plot(rows["layer"], rows["pearson_r"], "o-", markersize=5, label=name)
    ax_r.set(xlabel="Transformer block", ylabel="Pearson r", title="Correlations by block")
    ax_r.legend(fontsize=8)
    errors = table.drop_duplicates("layer").sort_values("layer")
    ax_err.semilogy(errors["layer"], np.maximum(errors["max_abs_reconstruction_error"], 1e-12), "ks-", markersize=5)
    ax_err.set(
        xlabel="Transformer block",
        ylabel="max |reconstruction $-$ next hidden state|\n(0 drawn at 1e-12)",
        title="Reconstruction error (last block: after ln_f)",
    )
    fig.tight_layout()
    return fig

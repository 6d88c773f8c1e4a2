"""Figures of repeated_token_mi: one layer, the example pair, every layer, and the two estimators compared."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from interpflow.plotting.panels import significance_scatter
from interpflow.plotting.style import FULL_WIDTH, SEQUENTIAL_CMAP, SINGLE_WIDTH

UNITS = {"histogram": "bits", "knn": "nats"}
SUBLAYER_LABELS = {"attn": "Attention", "mlp": "MLP"}


def _upper_matrix(rows: pd.DataFrame, column: str, n: int) -> np.ndarray:
    matrix = np.full((n, n), np.nan)
    matrix[rows["token_i"], rows["token_j"]] = rows[column]
    return matrix


def one_layer(pairs: pd.DataFrame, summary: pd.DataFrame, layer: int, sublayer: str, estimator: str):
    """MI and token-distance matrices among target occurrences, and MI against distance."""
    rows = pairs.query("layer == @layer and sublayer == @sublayer and estimator == @estimator")
    n = int(rows["token_j"].max()) + 1
    fig, axes = plt.subplots(1, 3, figsize=(FULL_WIDTH, 4))
    for ax, column, title in ((axes[0], "mi", f"MI ({UNITS[estimator]})"), (axes[1], "distance", "Token distance")):
        image = ax.imshow(_upper_matrix(rows, column, n), origin="lower", cmap=SEQUENTIAL_CMAP)
        fig.colorbar(image, ax=ax, pad=0.02, fraction=0.047)
        ax.set(xlabel="Target occurrence", ylabel="Target occurrence", title=title)
    tau = summary.query("layer == @layer and sublayer == @sublayer and estimator == @estimator").iloc[0]
    axes[2].plot(rows["distance"], rows["mi"], "s", color="#b3b3e6", markeredgecolor="k", markersize=9)
    axes[2].set(
        xlabel="Token distance",
        ylabel=f"MI ({UNITS[estimator]})",
        title=f"Kendall τ = {tau['kendall_tau']:.2f} (p = {tau['kendall_p']:.4f})",
    )
    fig.suptitle(f"{SUBLAYER_LABELS[sublayer]} output of block {layer}, {estimator} estimator")
    fig.tight_layout()
    return fig


def example_pair(points: pd.DataFrame, values: pd.DataFrame, layer: int, sublayer: str, threshold: float):
    mi = values.set_index(["estimator", "data"])["mi"]
    fig, ax = plt.subplots(figsize=(SINGLE_WIDTH, 5.5))
    kept = points[~points["outlier"]]
    dropped = points[points["outlier"]]
    ax.plot(
        kept["x"], kept["y"], "o", color="#b3e6b3", markeredgecolor="k", markeredgewidth=0.3, alpha=0.5, label="kept"
    )
    ax.plot(
        dropped["x"], dropped["y"], "s", color="#e6b3b3", markeredgecolor="k", label=f"outliers (|z| > {threshold})"
    )
    ax.set(
        xlabel="First occurrence",
        ylabel="Second occurrence",
        title=f"{SUBLAYER_LABELS[sublayer]} output, block {layer}\n"
        f"histogram MI: all {mi['histogram', 'all']:.3f}, trimmed {mi['histogram', 'trimmed']:.3f} bits\n"
        f"kNN MI: all {mi['knn', 'all']:.3f}, trimmed {mi['knn', 'trimmed']:.3f} nats",
    )
    ax.legend()
    fig.tight_layout()
    return fig


def layers(summary: pd.DataFrame, tests: pd.DataFrame, estimator: str):
    """The seed's 2x3 panel: mean MI and tau by layer for each sublayer, and the MLP vs attention tests."""
    fig, axes = plt.subplots(2, 3, figsize=(FULL_WIDTH, 6))
    rows = summary[summary["estimator"] == estimator]
    for column, sublayer in enumerate(SUBLAYER_LABELS):
        part = rows[rows["sublayer"] == sublayer]
        axes[0, column].plot(part["layer"], part["mean_mi"], "o", color="#e6b3b3", markeredgecolor="k")
        axes[0, column].set(
            xlabel="Transformer block",
            ylabel=f"Mean MI ({UNITS[estimator]})",
            title=f"{SUBLAYER_LABELS[sublayer]}: MI by layer",
            ylim=(0, rows["mean_mi"].max() * 1.1),
        )
        axes[1, column].plot(part["layer"], part["kendall_tau"], "s", color="#b3b3e6", markeredgecolor="k")
        axes[1, column].axhline(0, linestyle="--", color="gray", linewidth=0.8)
        axes[1, column].set(
            xlabel="Transformer block",
            ylabel="Kendall τ",
            title=f"{SUBLAYER_LABELS[sublayer]}: MI–distance correlation",
        )
    for row, (test, label) in enumerate((("t", "t (MLP − attention MI)"), ("z", "z (attention − MLP τ)"))):
        part = tests[(tests["estimator"] == estimator) & (tests["test"] == test)]
        significance_scatter(
            axes[row, 2],
            part["layer"],
            part["statistic"],
            part["significant"],
            "significant (FDR)",
            "not significant (FDR)",
            "#b3e6b3",
            marker="h",
            markersize=8,
            rest_markersize=6,
        )
        axes[row, 2].axhline(0, linestyle="--", color="gray", linewidth=0.8)
        axes[row, 2].set(xlabel="Transformer block", ylabel=label, title="Attention vs MLP by layer")
        axes[row, 2].legend(fontsize=8)
    fig.suptitle(f"{estimator} estimator")
    fig.tight_layout()
    return fig


def estimators(summary: pd.DataFrame):
    """Mean MI of the two estimators layer by layer, and one against the other with Pearson r."""
    wide = summary.pivot_table(index=["layer", "sublayer"], columns="estimator", values="mean_mi").reset_index()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for sublayer, marker in (("attn", "o"), ("mlp", "s")):
        part = wide[wide["sublayer"] == sublayer]
        axes[0].plot(part["layer"], part["histogram"], marker + "-", label=f"{sublayer}, histogram (bits)")
        axes[0].plot(part["layer"], part["knn"], marker + "--", label=f"{sublayer}, kNN (nats)")
        axes[1].plot(part["histogram"], part["knn"], marker, markeredgecolor="k", label=sublayer)
    axes[0].set(xlabel="Transformer block", ylabel="Mean MI", title="Estimators by layer")
    axes[0].legend(fontsize=8)
    r = np.corrcoef(wide["histogram"], wide["knn"])[0, 1]
    axes[1].set(xlabel="Histogram MI (bits)", ylabel="kNN MI (nats)", title=f"Pearson r = {r:.2f}")
    axes[1].legend()
    fig.tight_layout()
    return fig

"""Figures of subspace_removal: inspection of one layer, one intervention, and the layer sweep."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from interpflow.plotting.style import DIVERGING_CMAP, FULL_WIDTH, SEQUENTIAL_CMAP
from interpflow.plotting.text_heatmap import centred_norm, text_heatmap

ORIGINAL, RECONSTRUCTED = "#c0504d", "#4f81bd"


def overlaid_histograms(ax, series: dict, bins: int, xlabel: str, title: str) -> None:
    """Histogram outlines of several arrays on shared bin edges: ``series`` is ``label -> (values, colour)``."""
    edges = np.histogram_bin_edges(np.concatenate([values.ravel() for values, _ in series.values()]), bins)
    for label, (values, colour) in series.items():
        counts, _ = np.histogram(values.ravel(), edges)
        ax.plot(edges[:-1], counts, color=colour, label=label)
    ax.set(xlabel=xlabel, ylabel="Count", title=title)
    ax.legend()


def activation_histogram(original: np.ndarray, site: str, bins: int):
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.hist(original.ravel(), bins, edgecolor="k", facecolor="lightgray", linewidth=0.4)
    ax.set(xlabel="Activation value", ylabel="Count", title=f"{site} activations")
    return fig


def inspection(matrices: dict[str, np.ndarray], spectrum: pd.DataFrame, site: str, n_components: int, bins: int):
    """The seed's 2x3 panel: data, value distributions, eigenspectra, covariances, their distributions."""
    original, reconstructed = matrices["original"], matrices["reconstructed"]
    cov_original, cov_reconstructed = matrices["cov_original"], matrices["cov_reconstructed"]
    fig, axes = plt.subplots(2, 3, figsize=(FULL_WIDTH, 7.5))
    step = max(1, original.size // 20000)
    axes[0, 0].plot(
        original.ravel()[::step],
        reconstructed.ravel()[::step],
        "o",
        markersize=2,
        color="#b3e6b3",
        markeredgecolor="k",
        markeredgewidth=0.2,
        alpha=0.5,
    )
    axes[0, 0].set(xlabel="Original", ylabel="Reconstructed", title=f"Top {n_components} component(s) removed")
    values = {"Original": (original, ORIGINAL), "Reconstructed": (reconstructed, RECONSTRUCTED)}
    overlaid_histograms(axes[0, 1], values, bins, "Activation value", "Activation value distributions")
    shown = spectrum.head(16)
    axes[0, 2].plot(shown["component"], shown["variance_pct_original"], "s-", color=ORIGINAL, label="Original")
    axes[0, 2].plot(
        shown["component"], shown["variance_pct_reconstructed"], "o-", color=RECONSTRUCTED, label="Reconstructed"
    )
    axes[0, 2].set(xlabel="Component", ylabel="% variance explained", title="Eigenspectra of token covariance")
    axes[0, 2].legend()
    limits = np.percentile(np.concatenate([cov_original.ravel(), cov_reconstructed.ravel()]), [1, 99])
    for ax, cov, title in (
        (axes[1, 0], cov_original, "Original covariance"),
        (axes[1, 1], cov_reconstructed, "Reconstructed covariance"),
    ):
        image = ax.imshow(cov, vmin=limits[0], vmax=limits[1], cmap=SEQUENTIAL_CMAP, aspect="auto")
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.047)
        ax.set(xlabel="Tokens", ylabel="Tokens", title=title)
    covariances = {"Original": (cov_original, ORIGINAL), "Reconstructed": (cov_reconstructed, RECONSTRUCTED)}
    overlaid_histograms(axes[1, 2], covariances, bins, "Covariance value", "Covariance distributions")
    fig.suptitle(f"Subspace removal in {site}")
    fig.tight_layout()
    return fig


def hidden_state_impact(table: pd.DataFrame, layer: int):
    rows = table[table["intervention_layer"] == layer].sort_values("hidden_state")
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot(rows["hidden_state"], rows["diff_norm"], "o", color="#e6b3b3", markeredgecolor="k")
    ax.axvline(layer + 0.5, linestyle="--", color="gray")
    ax.set(
        xlabel="Hidden state",
        ylabel="‖clean − intervened‖",
        title=f"Impact of subspace removal at block {layer} on hidden states",
    )
    fig.tight_layout()
    return fig


def cosine_similarity(clean: np.ndarray, intervened: np.ndarray, layer: int, bins: int):
    fig, axes = plt.subplots(1, 3, figsize=(FULL_WIDTH, 3.8))
    limits = np.percentile(np.concatenate([clean.ravel(), intervened.ravel()]), [2, 98])
    for ax, matrix, title in ((axes[0], clean, "Clean"), (axes[1], intervened, "Subspace removed")):
        image = ax.imshow(matrix, vmin=limits[0], vmax=limits[1], cmap=SEQUENTIAL_CMAP)
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.047)
        ax.set(xlabel="Tokens", ylabel="Tokens", xticks=[], yticks=[], title=f"{title}: cosine similarity")
    similarities = {"Clean": (clean, ORIGINAL), "Subspace removed": (intervened, RECONSTRUCTED)}
    overlaid_histograms(axes[2], similarities, bins, "Cosine similarity", "Distributions")
    fig.suptitle(f"Token × token cosine similarity of hidden state {layer + 1} (first token excluded)")
    fig.tight_layout()
    return fig


def logit_impact_stem(table: pd.DataFrame, tokens: pd.DataFrame, layer: int):
    """Change in each next token's log-probability, coloured on a diverging scale centred on zero."""
    rows = table[table["intervention_layer"] == layer].sort_values("position")
    values = rows["delta_logprob"].to_numpy()
    norm, cmap = centred_norm(values), mpl.colormaps[DIVERGING_CMAP]
    fig, ax = plt.subplots(figsize=(max(8, 0.22 * len(tokens)), 4))
    for position, value in zip(rows["position"], values, strict=True):
        ax.plot([position, position], [min(values.min(), 0), value], ":", color=cmap(norm(value)), linewidth=0.8)
        ax.plot(position, value, "h", markersize=9, markeredgecolor="k", color=cmap(norm(value)))
    ax.axhline(0, color="gray", zorder=-1)
    ax.set(
        xlim=(-1, len(tokens)),
        ylabel="Δ log P(token), clean − intervened",
        title=f"Change in next-token log-probability from subspace removal at block {layer}",
    )
    ax.set_xticks(tokens["position"], tokens["token"], rotation=90, fontsize=8)
    fig.tight_layout()
    return fig


def logit_impact_text(table: pd.DataFrame, tokens: pd.DataFrame, layer: int):
    rows = table[table["intervention_layer"] == layer].set_index("position")["delta_logprob"]
    values = [rows.get(position, np.nan) for position in tokens["position"]]
    return text_heatmap(
        tokens["token"].tolist(),
        values,
        title=f"Δ log P(token) after subspace removal at block {layer}",
        label="clean − intervened (nats)",
    )


def layer_sweep(table: pd.DataFrame):
    """The seed's three panels: t by layer, top-component variance by layer, and one against the other."""
    fig, axes = plt.subplots(1, 3, figsize=(FULL_WIDTH, 3.8))
    colours = mpl.colormaps[SEQUENTIAL_CMAP](table["layer"] / max(table["layer"].max(), 1))
    axes[0].scatter(table["layer"], table["t_statistic"], c=colours, edgecolors="k", s=60, alpha=0.8)
    axes[0].axhline(0, linestyle="--", color="gray", linewidth=0.8)
    axes[0].set(xlabel="Transformer block", ylabel="t statistic", title="t-test of Δ log P against zero")
    axes[1].scatter(
        table["layer"], table["top_pc_variance_pct"], c=colours, edgecolors="k", marker="s", s=60, alpha=0.8
    )
    axes[1].set(xlabel="Transformer block", ylabel="% variance", title="Variance of the top component")
    r = np.corrcoef(table["t_statistic"], table["top_pc_variance_pct"])[0, 1] if len(table) > 2 else np.nan
    axes[2].scatter(
        table["t_statistic"], table["top_pc_variance_pct"], c=colours, edgecolors="k", marker="h", s=70, alpha=0.8
    )
    axes[2].set(xlabel="t statistic", ylabel="% variance of the top component", title=f"r = {r:.2f}")
    fig.tight_layout()
    return fig

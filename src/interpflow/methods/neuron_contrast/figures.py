"""Figures of neuron_clusters: activations, t-tests, t-SNE, DBSCAN, k-means, and the layer sweep."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from interpflow.methods.neuron_contrast.analysis import cosine_similarities
from interpflow.plotting.panels import significance_scatter
from interpflow.plotting.style import CATEGORICAL_CMAP, DIVERGING_CMAP, FULL_WIDTH, SEQUENTIAL_CMAP


def _group_divider(ax, first_group: np.ndarray, names: list[str]) -> None:
    boundary = int(first_group.sum()) - 0.5
    ax.axvline(boundary, color="k", linestyle="--", zorder=-3, label=f'"{names[0]}" left, "{names[1]}" right')


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set(xticks=[], yticks=[])


def activations(acts: np.ndarray, first_group: np.ndarray, names: list[str], site: str):
    """All target activations, the distribution of neuron means, and sentence means by group."""
    fig, axes = plt.subplots(1, 3, figsize=(FULL_WIDTH, 4))
    limit = np.percentile(np.abs(acts), 99)
    image = axes[0].imshow(acts, aspect="auto", vmin=-limit, vmax=limit, cmap=DIVERGING_CMAP)
    fig.colorbar(image, ax=axes[0], pad=0.01)
    axes[0].set(xlabel="MLP neuron", ylabel="Sentence", title=f"{site} at the target token")
    axes[1].hist(acts.mean(axis=0), 60, edgecolor="k", linewidth=0.5, facecolor="gray")
    axes[1].set(xlabel="Mean activation over sentences", ylabel="Neurons", title="Neuron means")
    axes[2].plot(acts.mean(axis=1), "o", color="#b3e6b3", markeredgecolor="k")
    _group_divider(axes[2], first_group, names)
    axes[2].set(xlabel="Sentence", ylabel="Mean activation over neurons", title="Sentence means")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def example_neuron(acts: np.ndarray, first_group: np.ndarray, names: list[str], neuron: int, site: str):
    if not 0 <= neuron < acts.shape[1]:
        raise ValueError(f"config key 'neuron_contrast.plot.example_neuron': {neuron} is not in 0..{acts.shape[1] - 1}")
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(acts[:, neuron], "o", color="#b3b3b3", markeredgecolor="k", markersize=8)
    _group_divider(ax, first_group, names)
    ax.set(xlabel="Sentence", ylabel="Activation", title=f"Neuron {neuron} of {site}")
    ax.legend()
    fig.tight_layout()
    return fig


def t_values(tests: pd.DataFrame, names: list[str], correction: str):
    fig, ax = plt.subplots(figsize=(10, 4))
    n_significant = int(tests["significant"].sum())
    significance_scatter(
        ax,
        tests["neuron"],
        tests["t_statistic"],
        tests["significant"],
        f"significant ({correction}, {n_significant} neurons)",
        "not significant",
        "#e6b3e6",
        rest_markersize=2,
    )
    ax.set(xlabel="Neuron", ylabel="t statistic", title=f'"{names[0]}" vs "{names[1]}" at every neuron')
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _significant(acts: np.ndarray, clusters: pd.DataFrame) -> np.ndarray:
    return acts[:, clusters["neuron"].to_numpy()]


def tsne(acts: np.ndarray, clusters: pd.DataFrame):
    """Gram matrix of the significant neurons and their t-SNE map coloured by t."""
    fig, axes = plt.subplots(1, 2, figsize=(FULL_WIDTH, 5))
    if clusters.empty:
        for ax in axes:
            _empty(ax, "fewer than 3 significant neurons: no t-SNE")
        return fig
    points = _significant(acts, clusters)
    gram = points.T @ points
    limit = np.percentile(np.abs(gram), 99)
    image = axes[0].imshow(gram, origin="lower", vmin=-limit, vmax=limit, cmap=DIVERGING_CMAP)
    fig.colorbar(image, ax=axes[0], fraction=0.046, pad=0.01)
    axes[0].set(title="Gram matrix", xlabel="Significant neuron", ylabel="Significant neuron")
    t = clusters["t_statistic"]
    scatter = axes[1].scatter(
        clusters["tsne_x"], clusters["tsne_y"], c=t, cmap=DIVERGING_CMAP, norm=mpl.colors.CenteredNorm(0), edgecolor="k"
    )
    fig.colorbar(scatter, ax=axes[1], label="t statistic")
    axes[1].set(title="t-SNE of the significant neurons", xlabel="t-SNE 1", ylabel="t-SNE 2")
    fig.tight_layout()
    return fig


def dbscan(clusters: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(8, 6))
    if clusters.empty:
        _empty(ax, "fewer than 3 significant neurons: no clusters")
        return fig
    labels = clusters["dbscan_cluster"].to_numpy()
    n_clusters = int(labels.max()) + 1
    noise = labels == -1
    ax.plot(clusters["tsne_x"][noise], clusters["tsne_y"][noise], "k+", label="noise")
    colours = mpl.colormaps[CATEGORICAL_CMAP]
    for cluster in range(n_clusters):
        members = labels == cluster
        ax.plot(
            clusters["tsne_x"][members],
            clusters["tsne_y"][members],
            "o",
            color=colours(cluster % 10),
            markeredgecolor="k",
        )
    ax.set(xlabel="t-SNE 1", ylabel="t-SNE 2", title=f"DBSCAN on the t-SNE map ({n_clusters} clusters)")
    fig.tight_layout()
    return fig


def _sorted_points(acts: np.ndarray, clusters: pd.DataFrame, column: str) -> np.ndarray:
    order = np.argsort(clusters[column].to_numpy(), kind="stable")
    return _significant(acts, clusters)[:, order]


def dbscan_similarity(acts: np.ndarray, clusters: pd.DataFrame, bins: int):
    """Gram and cosine-similarity matrices of the significant neurons sorted by DBSCAN cluster."""
    fig, axes = plt.subplots(1, 3, figsize=(FULL_WIDTH, 4))
    if clusters.empty:
        for ax in axes:
            _empty(ax, "fewer than 3 significant neurons")
        return fig
    points = _sorted_points(acts, clusters, "dbscan_cluster")
    gram = points.T @ points
    limit = np.percentile(np.abs(gram), 99)
    image = axes[0].imshow(gram, origin="lower", vmin=-limit, vmax=limit, cmap=DIVERGING_CMAP)
    fig.colorbar(image, ax=axes[0], fraction=0.046, pad=0.04)
    axes[0].set(title="Gram matrix, sorted by cluster", xlabel="Neuron", ylabel="Neuron")
    similarities = cosine_similarities(points)
    image = axes[1].imshow(similarities, origin="lower", vmin=-1, vmax=1, cmap=DIVERGING_CMAP)
    fig.colorbar(image, ax=axes[1], fraction=0.046, pad=0.04)
    axes[1].set(title="Cosine similarity, sorted", xlabel="Neuron", yticks=[])
    axes[2].hist(similarities.ravel(), bins, color="gray", edgecolor="k", linewidth=0.4)
    axes[2].set(title="Cosine similarities", xlabel="Cosine similarity", ylabel="Pairs")
    fig.tight_layout()
    return fig


def kmeans(acts: np.ndarray, clusters: pd.DataFrame):
    """k-means clusters with lines to their centroids, and the cluster-sorted cosine similarities."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = clusters["kmeans_cluster"].to_numpy() if not clusters.empty else np.array([])
    if clusters.empty or (labels < 0).all():
        for ax in axes:
            _empty(ax, "too few significant neurons for k-means")
        return fig
    colours = mpl.colormaps[CATEGORICAL_CMAP]
    xy = clusters[["tsne_x", "tsne_y"]].to_numpy()
    centroids = {cluster: xy[labels == cluster].mean(axis=0) for cluster in np.unique(labels)}
    for (x, y), label in zip(xy, labels, strict=True):
        cx, cy = centroids[label]
        axes[0].plot([x, cx], [y, cy], color=colours(label % 10), linewidth=0.6)
    for cluster, (cx, cy) in centroids.items():
        members = labels == cluster
        axes[0].plot(xy[members, 0], xy[members, 1], "o", color=colours(cluster % 10), markeredgecolor="k")
        axes[0].plot(cx, cy, "o", color="y", markeredgecolor="k", markersize=11)
    axes[0].set(xlabel="t-SNE 1", ylabel="t-SNE 2", title=f"k-means on the t-SNE map (k = {len(centroids)})")
    image = axes[1].imshow(
        cosine_similarities(_sorted_points(acts, clusters, "kmeans_cluster")),
        origin="lower",
        vmin=-1,
        vmax=1,
        cmap=DIVERGING_CMAP,
    )
    fig.colorbar(image, ax=axes[1], fraction=0.046, pad=0.02)
    axes[1].set(title="Cosine similarity, sorted by k-means cluster", xlabel="Neuron", yticks=[])
    fig.tight_layout()
    return fig


def layer_sweep(tests: pd.DataFrame, clusters: pd.DataFrame):
    """Per layer: significant neurons and DBSCAN clusters among them."""
    layers = np.sort(tests["layer"].unique())
    significant = tests.groupby("layer")["significant"].sum().reindex(layers)
    found = clusters[clusters["dbscan_cluster"] >= 0].groupby("layer")["dbscan_cluster"].nunique()
    n_clusters = found.reindex(layers, fill_value=0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colours = mpl.colormaps[SEQUENTIAL_CMAP](layers / max(layers.max(), 1))
    axes[0].scatter(layers, significant, c=colours, edgecolors="k", s=50)
    axes[0].set(xlabel="Transformer block", ylabel="Significant neurons", title="Neurons that separate the groups")
    axes[1].scatter(layers, n_clusters, c=colours, edgecolors="k", marker="s", s=50)
    axes[1].set(xlabel="Transformer block", ylabel="DBSCAN clusters", title="Clusters among them")
    fig.tight_layout()
    return fig

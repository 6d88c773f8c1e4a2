"""Figures of sparse_autoencoder: training curves, latent activations, latent statistics, text heatmaps."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from interpflow.plotting.html_heatmap import html_heatmap
from interpflow.plotting.style import INTENSITY_CMAP, SEQUENTIAL_CMAP
from interpflow.plotting.text_heatmap import text_heatmap


def loss_curves(training_log: pd.DataFrame):
    """The loss and its L1 and decorrelation terms by epoch (one full-batch step per epoch)."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    panels = (
        ("loss", "Total loss", "s", "#e6b3b3"),
        ("l1", "Sparsity loss", "o", "#b3e6b3"),
        ("decorrelation", "Decorrelation loss", "^", "#b3b3e6"),
    )
    for ax, (column, title, marker, colour) in zip(axes, panels, strict=True):
        ax.plot(
            training_log["step"],
            training_log[column],
            marker + "-",
            color=colour,
            markeredgecolor="k",
            markersize=4,
            linewidth=0.5,
        )
        ax.set(xlabel="Epoch", ylabel="Loss", title=title)
    fig.tight_layout()
    return fig


def latent_image(latents: np.ndarray):
    fig, ax = plt.subplots(figsize=(10, 3))
    image = ax.imshow(
        latents,
        vmin=0,
        vmax=np.percentile(latents[latents > 0], 95) if (latents > 0).any() else 1,
        aspect="auto",
        cmap=SEQUENTIAL_CMAP,
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, pad=0.01)
    ax.set(xlabel="Latent", ylabel="Token", title="Latent activations")
    fig.tight_layout()
    return fig


def latent_statistics(scores: pd.DataFrame):
    """Density and mean non-zero activation per latent, and one against the other."""
    scores = scores.assign(density_pct=100 * scores["density"])
    dead = scores["density"] == 0
    alive = scores[~dead]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, column, label, colour in (
        (axes[0], "density_pct", "% tokens active", "#e6b3b3"),
        (axes[1], "mean_activation", "Mean non-zero activation", "#b3e6b3"),
    ):
        ax.plot(scores["latent"][dead], scores[column][dead], "rx", alpha=0.2)
        ax.plot(alive["latent"], alive[column], "o", color=colour, markeredgecolor="k", alpha=0.5, markersize=4)
        ax.set(xlabel="Latent", ylabel=label)
    axes[0].set_title(f"{100 * (1 - dead.mean()):.1f}% of latents ever active")
    axes[1].set_title("Latent activations")
    axes[2].plot(
        alive["mean_activation"],
        alive["density_pct"],
        "o",
        color="#b3b3e6",
        markeredgecolor="k",
        alpha=0.5,
        markersize=4,
    )
    axes[2].set(xlabel="Mean non-zero activation", ylabel="% tokens active", title="Activation by density")
    fig.tight_layout()
    return fig


def latent_heatmaps(tokens: list[str], values: np.ndarray, latent: int, reason: str):
    """The PNG figure and the HTML page of one latent over the text."""
    norm = mpl.colors.Normalize(vmin=0, vmax=values.max() if values.max() > 0 else 1)
    title = f"Latent {latent} ({reason})"
    figure = text_heatmap(tokens, values, norm=norm, cmap=INTENSITY_CMAP, title=title, label="latent activation")
    return figure, html_heatmap(tokens, values, norm, INTENSITY_CMAP, title)

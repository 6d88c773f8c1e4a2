"""The one figure style of interpflow, and the PNG + SVG writer every figure goes through."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from interpflow.runtime.atomic_io import atomic_path  # noqa: E402

PNG_DPI = 150  # dots per inch of every PNG; the SVG twin is vector
# Colour maps by the kind of value shown; figures name these, never a map of their own.
SEQUENTIAL_CMAP = "plasma"  # magnitudes and orderings: covariances, MI, layer index, latent activations
DIVERGING_CMAP = "RdBu_r"  # signed values centred on 0: Δ log P, t statistics, activations, similarities
INTENSITY_CMAP = "Reds"  # non-negative intensity shaded on text: SAE latent heatmaps
CATEGORICAL_CMAP = "tab10"  # cluster labels
# Figure sizes (inches): a full-width row of panels, and a single panel.
FULL_WIDTH = 13.0
SINGLE_WIDTH = 6.5
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.bbox": "tight",
    "svg.hashsalt": "interpflow",  # stable SVG ids, so the same data gives the same file
}
plt.rcParams.update(RC)


def save_figure(fig, png_path: str | os.PathLike, svg_path: str | os.PathLike) -> None:
    """Write ``fig`` as PNG (at :data:`PNG_DPI`) and SVG, each atomically, then close it."""
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=PNG_DPI, metadata={"Software": None})
    with atomic_path(svg_path) as tmp:
        fig.savefig(tmp, format="svg", metadata={"Date": None})
    plt.close(fig)


def save_figures(figures: dict, outputs) -> None:
    """Save each ``name -> figure`` to the outputs named ``<name>_png`` and ``<name>_svg``."""
    for name, fig in figures.items():
        save_figure(fig, outputs[f"{name}_png"], outputs[f"{name}_svg"])

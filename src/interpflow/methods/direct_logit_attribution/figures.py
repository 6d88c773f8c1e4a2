"""Figures of direct_logit_attribution: each head's term, and each block's attention and MLP terms."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from interpflow.plotting.style import DIVERGING_CMAP, FULL_WIDTH


def head_matrix(table: pd.DataFrame) -> np.ndarray:
    """``(layers, heads)`` mean attribution of every head."""
    heads = table[table["component"] == "head"]
    return heads.pivot_table(index="layer", columns="head", values="attribution", aggfunc="first").to_numpy(float)


def attribution_figure(table: pd.DataFrame):
    """Left: each head's direct term (block by head); right: each block's attention and MLP terms, and
    the embedding's, in logit units (means over the pairs)."""
    matrix = head_matrix(table)
    fig, (heads_ax, blocks_ax) = plt.subplots(1, 2, figsize=(FULL_WIDTH, 4.4), gridspec_kw={"width_ratios": [1, 1.3]})
    limit = float(np.abs(matrix).max()) or 1.0
    image = heads_ax.imshow(matrix, origin="lower", aspect="auto", cmap=DIVERGING_CMAP, vmin=-limit, vmax=limit)
    heads_ax.set(xlabel="Head", ylabel="Transformer block", title="Each head's direct term")
    heads_ax.set_xticks(range(matrix.shape[1]))
    fig.colorbar(image, ax=heads_ax, pad=0.01, fraction=0.05, label="logit difference")
    layers = np.arange(matrix.shape[0])
    width = 0.4
    for offset, component, label in ((-width / 2, "attn", "attention"), (width / 2, "mlp", "MLP")):
        rows = table[table["component"] == component].sort_values("layer")
        blocks_ax.bar(layers + offset, rows["attribution"], width=width, label=label)
    embed = float(table.loc[table["component"] == "embed", "attribution"].iloc[0])
    blocks_ax.axhline(0, color="0.6", linewidth=0.8)
    blocks_ax.set(
        xlabel="Transformer block", ylabel="direct term (logit difference)", title=f"Blocks (embedding: {embed:.3g})"
    )
    blocks_ax.set_xticks(layers)
    blocks_ax.legend(frameon=False)
    fig.tight_layout()
    return fig

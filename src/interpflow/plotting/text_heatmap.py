"""Token-coloured text: each token of a text on a background coloured by its value."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from interpflow.plotting.style import DIVERGING_CMAP


def centred_norm(values) -> mpl.colors.Normalize:
    """Diverging normalisation centred on zero, symmetric, valid for all-zero input."""
    halfrange = float(np.max(np.abs(values))) if len(values) else 0.0
    return mpl.colors.CenteredNorm(vcenter=0.0, halfrange=halfrange or 1.0)


def text_heatmap(tokens, values, norm=None, cmap=DIVERGING_CMAP, title="", label="", fontsize=11, width=11):
    """Draw ``tokens`` left to right, wrapping lines, each on a box coloured by its value.

    ``tokens``: strings as decoded; ``values``: one number per token (NaN draws no colour).
    Returns the figure, with a colour bar labelled ``label``.
    """
    values = np.asarray(values, dtype=float)
    norm = norm or centred_norm(values[np.isfinite(values)])
    colormap = mpl.colormaps[cmap]
    fig = plt.figure(figsize=(width, 1))
    renderer = fig.canvas.get_renderer()
    line_height = fontsize * 2.2 / 72  # inches
    gap = 2 * 0.25 * fontsize / 72  # the boxes' padding on both sides
    x, line, placed = 0.0, 0, []
    for token, value in zip(tokens, values, strict=True):
        shown = token.replace("\n", "\u21b5")
        text = fig.text(0, 0, shown, fontsize=fontsize, fontfamily="monospace", va="center")
        token_width = text.get_window_extent(renderer).width / fig.dpi
        if x + token_width > width - 0.4 and x > 0:
            x, line = 0.0, line + 1
        face = colormap(norm(value)) if np.isfinite(value) else "none"
        text.set_bbox(dict(boxstyle="round,pad=0.25", facecolor=face, edgecolor="none", alpha=0.85))
        placed.append((text, x, line))
        x += token_width + gap
    height = (line + 1) * line_height + 0.9
    fig.set_size_inches(width, height)
    for text, x_inches, row in placed:
        text.set_position((0.15 / width + x_inches / width, 1 - (0.45 + (row + 0.5) * line_height) / height))
    if title:
        fig.suptitle(title, y=1 - 0.12 / height, fontsize=fontsize + 1)
    colourbar_axes = fig.add_axes([0.3, 0.25 / height, 0.4, 0.12 / height])
    fig.colorbar(
        mpl.cm.ScalarMappable(norm=norm, cmap=colormap), cax=colourbar_axes, orientation="horizontal", label=label
    )
    return fig

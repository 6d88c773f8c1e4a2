"""Figures of logit_lens: the top-token grid of one text, and how the prediction converges by layer."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from interpflow.plotting.style import FULL_WIDTH, SEQUENTIAL_CMAP


def shown(token: str, width: int = 8) -> str:
    """A token as a cell label: escapes visible (a newline as \\n), cut to ``width`` characters."""
    text = repr(token)[1:-1]
    return text if len(text) <= width else text[: width - 1] + "…"


def top_tokens_figure(top: pd.DataFrame, lens: pd.DataFrame, text_id: int, max_positions: int):
    """Layer × position grid of text ``text_id``'s most probable next token, coloured by its probability;
    bold where it is the actual next token. At most ``max_positions`` positions, from the first."""
    first = top[(top["text_id"] == text_id) & (top["rank"] == 1) & (top["position"] < max_positions)]
    grid = first.pivot(index="layer", columns="position", values="prob")
    labels = first.pivot(index="layer", columns="position", values="token")
    rows = lens[(lens["text_id"] == text_id) & (lens["layer"] == 0) & (lens["position"] < max_positions)]
    inputs, nexts = rows["token"].tolist(), rows["next_token"].tolist()
    n_layers, n_positions = grid.shape
    fig, ax = plt.subplots(figsize=(min(FULL_WIDTH, 1.2 + 0.55 * n_positions), 1.4 + 0.32 * n_layers))
    image = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1)
    for layer in range(n_layers):
        for position in range(n_positions):
            token = labels.iat[layer, position]
            hit = token == nexts[position]
            colour = "black" if grid.iat[layer, position] > 0.6 else "white"
            ax.text(
                position,
                layer,
                shown(token),
                ha="center",
                va="center",
                fontsize=5.5,
                color=colour,
                weight="bold" if hit else "normal",
            )
    ax.set_xticks(range(n_positions), [shown(token) for token in inputs], rotation=90, fontsize=6.5)
    ax.set_yticks(range(n_layers), [f"{layer}" for layer in grid.index], fontsize=7)
    ax.set(xlabel="Input token (position)", ylabel="Layer (residual stream entering block; last: after the last block)")
    ax.set_title(f"Text {text_id}: most probable next token at every layer (bold: the actual next token)")
    fig.colorbar(image, ax=ax, pad=0.01, fraction=0.03, label="probability")
    fig.tight_layout()
    return fig


def by_layer_figure(lens: pd.DataFrame):
    """Over every position with a next token: the next token's rank (median, quartiles shaded) and mean
    probability (and the target's, when one is followed), and the mean KL divergence from the final layer."""
    rows = lens.dropna(subset=["next_token_prob"])
    by_layer = rows.groupby("layer")
    rank = by_layer["next_token_rank"].quantile([0.25, 0.5, 0.75]).unstack().astype(float)
    fig, (ax_rank, ax_prob, ax_kl) = plt.subplots(1, 3, figsize=(FULL_WIDTH, 3.6))
    ax_rank.plot(rank.index, rank[0.5], marker="o", markersize=3.5)
    ax_rank.fill_between(rank.index, rank[0.25], rank[0.75], alpha=0.25)
    ax_rank.set(yscale="log", xlabel="Layer", ylabel="rank of the next token (1 = top)", title="Next-token rank")
    ax_prob.plot(by_layer["next_token_prob"].mean(), marker="o", markersize=3.5, label="next token")
    if lens["target_prob"].notna().any():
        ax_prob.plot(lens.groupby("layer")["target_prob"].mean(), marker="s", markersize=3.5, label="target")
        ax_prob.legend(fontsize=8)
    ax_prob.set(xlabel="Layer", ylabel="mean probability", title="Probability")
    ax_kl.plot(lens.groupby("layer")["kl_to_final"].mean(), marker="o", markersize=3.5)
    ax_kl.set(xlabel="Layer", ylabel="mean KL(final ‖ layer), nats", title="Distance to the final prediction")
    for ax in (ax_rank, ax_prob, ax_kl):
        ax.set_xticks(np.arange(0, lens["layer"].max() + 1, max(1, (lens["layer"].max() + 1) // 12)))
    fig.tight_layout()
    return fig

"""logit_lens: every run's convergence to its final prediction side by side, by depth."""

from __future__ import annotations

import pandas as pd

from interpflow.plotting.comparison import by_depth, legend_below, panels
from interpflow.runtime.comparison import Run, stack_runs

COMPARISON_COLUMNS = [
    "instance",
    "model",
    "n_layer",
    "layer",
    "relative_depth",
    "median_next_token_rank",
    "mean_next_token_prob",
    "mean_kl_to_final",
]


def comparison_table(runs: list[Run], lens: list[pd.DataFrame]) -> pd.DataFrame:
    """``comparison.parquet``: one row per (instance, model, layer), over every position with a next token
    (the KL over every position). ``layer`` runs 0..n_layer (the last: after the last block), so
    ``relative_depth`` is ``layer / n_layer``: 0 the embeddings, 1 the model's output."""
    summaries = []
    for table in lens:
        with_next = table.dropna(subset=["next_token_prob"]).groupby("layer")
        summaries.append(
            pd.DataFrame(
                {
                    "median_next_token_rank": with_next["next_token_rank"].median().astype(float),
                    "mean_next_token_prob": with_next["next_token_prob"].mean(),
                    "mean_kl_to_final": table.groupby("layer")["kl_to_final"].mean(),
                }
            ).reset_index()
        )
    table = stack_runs(summaries, runs)
    table["relative_depth"] = table["layer"] / table["n_layer"]
    return table[COMPARISON_COLUMNS]


def comparison_figure(table: pd.DataFrame):
    fig, axes = panels(3)
    by_depth(axes[0], table, "median_next_token_rank", "median rank of the next token", log=True)
    by_depth(axes[1], table, "mean_next_token_prob", "mean probability of the next token")
    by_depth(axes[2], table, "mean_kl_to_final", "mean KL(final ‖ layer), nats")
    for ax in axes:
        if ax.get_xlabel() == "Transformer block":
            ax.set_xlabel("Layer (residual stream; last: after the last block)")
    legend_below(fig, axes[0])
    return fig

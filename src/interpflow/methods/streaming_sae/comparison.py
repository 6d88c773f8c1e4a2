"""streaming_sae: every run's training curve, and the sparsity-fidelity trade-off across runs.

The figure has three panels: each run's minibatch FVU during training, then the Pareto fronts: held-out
FVU and ``ce_loss_score`` against L0 (log scale), one line per sweep, model and width (number of
latents), through its points in order of L0. A run that is no sweep's point is a line of one point.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.ticker as mticker
import pandas as pd

from interpflow.plotting.comparison import panels
from interpflow.plotting.style import CATEGORICAL_CMAP
from interpflow.runtime.comparison import Run, stack_runs
from interpflow.runtime.sweeps import sweep_name

CURVE_COLUMNS = ["step", "tokens", "fvu", "l0", "dead_fraction"]
RUN_METRICS = ["heldout_fvu", "heldout_l0", "ce_loss_score", "kl_div_score", "frac_alive"]
COMPARISON_COLUMNS = ["instance", "model", "n_layer", "sweep", "latents", *CURVE_COLUMNS, *RUN_METRICS]


def comparison_table(
    runs: list[Run], training_logs: list[pd.DataFrame], evaluations: list[pd.DataFrame], sae_configs: list[dict]
) -> pd.DataFrame:
    """``comparison.parquet``: every run's training curve, one row per logged step, with the run's sweep (its
    own instance name if it is none's point), ``latents`` and held-out metrics (the same on each of its
    rows): ``heldout_fvu``, ``heldout_l0``, ``ce_loss_score``, ``kl_div_score``, ``frac_alive``. A pretrained
    SAE (an empty training log: it was not trained here) has one row, its curve columns empty (NaN)."""
    frames = []
    for run, log, evaluation, record in zip(runs, training_logs, evaluations, sae_configs, strict=True):
        row = evaluation.iloc[0]
        curve = log[CURVE_COLUMNS] if len(log) else pd.DataFrame({column: [float("nan")] for column in CURVE_COLUMNS})
        frames.append(
            curve.assign(
                sweep=sweep_name(run.instance),
                latents=int(record["sae"]["latent_dim"]),
                heldout_fvu=float(row["fvu"]),
                heldout_l0=float(row["l0"]),
                ce_loss_score=float(row["ce_loss_score"]),
                kl_div_score=float(row["kl_div_score"]),
                frac_alive=float(row["frac_alive"]),
            )
        )
    return stack_runs(frames, runs)[COMPARISON_COLUMNS]


def pareto_lines(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``(label, runs)`` per sweep, model and width: one row per run, in order of held-out L0."""
    runs = table.drop_duplicates(["instance", "model"])
    return [
        (f"{sweep} · {model} · {latents} latents", rows.sort_values("heldout_l0"))
        for (sweep, model, latents), rows in runs.groupby(["sweep", "model", "latents"], sort=False)
    ]


def comparison_figure(table: pd.DataFrame):
    """Training curves (left); held-out FVU and ce_loss_score against L0, one line per sweep, model and width
    (middle, right). A run's training curve has its line's colour."""
    fig, (ax_curve, ax_fvu, ax_ce) = panels(3, height=4.2)
    cmap = mpl.colormaps[CATEGORICAL_CMAP]
    for index, (label, runs) in enumerate(pareto_lines(table)):
        colour = cmap(index % cmap.N)
        for instance, model in zip(runs["instance"], runs["model"], strict=True):
            run = table[(table["instance"] == instance) & (table["model"] == model)].sort_values("tokens")
            ax_curve.plot(run["tokens"], run["fvu"], color=colour, linewidth=1)
        style = {"color": colour, "marker": "o", "markersize": 4, "label": label}
        ax_fvu.plot(runs["heldout_l0"], runs["heldout_fvu"], **style)
        ax_ce.plot(runs["heldout_l0"], runs["ce_loss_score"], **style)
    ax_curve.set(xlabel="training tokens", ylabel="minibatch FVU", title="Training, every run")
    ax_fvu.set(ylabel="FVU (held-out; lower is better)", title="FVU vs L0")
    ax_ce.set(ylabel="ce_loss_score (higher is better)", title="Loss recovered vs L0")
    l0_values = sorted(table["heldout_l0"].dropna().unique())
    for ax in (ax_fvu, ax_ce):
        ax.set(xscale="log", xlabel="L0 (held-out, log scale)")
        ax.set_xticks(l0_values, [f"{value:.3g}" for value in l0_values])
        ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    handles, labels = ax_fvu.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.05 + 0.035 * ((len(labels) - 1) // 3), 1, 1))
    return fig

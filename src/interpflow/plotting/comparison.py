"""Comparison figures: one line per run (instance · model) of a method, by layer or relative depth."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import pandas as pd

from interpflow.plotting.style import CATEGORICAL_CMAP, FULL_WIDTH
from interpflow.runtime.comparison import depth_axis


def run_colours(table: pd.DataFrame) -> dict[tuple[str, str], tuple]:
    """``(instance, model) -> colour``, in the table's order of runs."""
    runs = list(dict.fromkeys(zip(table["instance"], table["model"], strict=True)))
    cmap = mpl.colormaps[CATEGORICAL_CMAP]
    return {run: cmap(i % cmap.N) for i, run in enumerate(runs)}


def by_depth(ax, table: pd.DataFrame, y: str, ylabel: str, style_by: str | None = None, log: bool = False) -> None:
    """Draw ``y`` against depth, one line per run (and per value of ``style_by``, as line styles)."""
    x, xlabel = depth_axis(table)
    colours = run_colours(table)
    styles = dict(zip(table[style_by].unique(), ["-", "--", ":", "-."], strict=False)) if style_by else {None: "-"}
    for (instance, model), colour in colours.items():
        run = table[(table["instance"] == instance) & (table["model"] == model)]
        for style_value, linestyle in styles.items():
            rows = run if style_by is None else run[run[style_by] == style_value]
            rows = rows.sort_values(x)
            label = f"{instance} · {model}" + (f" ({style_value})" if style_by else "")
            ax.plot(rows[x], rows[y], marker="o", markersize=3.5, linestyle=linestyle, color=colour, label=label)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)


def panels(n: int, height: float = 3.8):
    """A full-width row of ``n`` panels."""
    fig, axes = plt.subplots(1, n, figsize=(FULL_WIDTH, height), squeeze=False)
    return fig, list(axes[0])


def legend_below(fig, ax) -> None:
    """One legend for the figure, under the panels (runs can be many)."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.04 * ((len(labels) - 1) // 4), 1, 1))


def curves_and_finals(
    table: pd.DataFrame,
    x: str,
    y: str,
    final: str,
    labels: dict[str, str],
    log_y: bool = False,
):
    """Every run's ``y`` against ``x`` (left) and its one ``final`` value as a bar (right).

    ``labels``: ``x``, ``y``, ``curves`` (title), ``final`` (the bars' axis) and ``finals`` (title).
    """
    fig, (ax_curve, ax_final) = panels(2)
    colours = run_colours(table)
    for (instance, model), colour in colours.items():
        run = table[(table["instance"] == instance) & (table["model"] == model)].sort_values(x)
        ax_curve.plot(run[x], run[y], color=colour, label=f"{instance} · {model}")
    if log_y:
        ax_curve.set_yscale("log")
    ax_curve.set(xlabel=labels["x"], ylabel=labels["y"], title=labels["curves"])
    finals = table.drop_duplicates(["instance", "model"])
    runs = list(zip(finals["instance"], finals["model"], strict=True))
    ax_final.bar(
        [f"{instance}\n{model}" for instance, model in runs], finals[final], color=[colours[run] for run in runs]
    )
    ax_final.set(ylabel=labels["final"], title=labels["finals"])
    legend_below(fig, ax_curve)
    return fig


def write_comparison(table: pd.DataFrame, draw, outputs) -> None:
    """Write a comparison table (``outputs.table``, Parquet) and its figure ``draw(table)`` (``png``, ``svg``)."""
    from interpflow.plotting.style import save_figure
    from interpflow.runtime.atomic_io import write_parquet

    write_parquet(table, outputs.table)
    save_figure(draw(table), outputs.png, outputs.svg)

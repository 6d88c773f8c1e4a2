"""Figures and the top-contexts page of streaming_sae."""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from interpflow.plotting.style import FULL_WIDTH, SEQUENTIAL_CMAP

CURVES = (
    ("fvu", "fraction of variance unexplained", "Reconstruction (minibatch)"),
    ("l0", "non-zero latents per token (L0)", "Sparsity"),
    ("dead_fraction", "fraction of latents dead", "Dead latents"),
)


def loss_curves(training_log: pd.DataFrame, evaluation: pd.DataFrame):
    """FVU, L0 and dead fraction against training tokens; the held-out FVU as a dashed line. A pretrained
    SAE's log is empty: its panels say so."""
    fig, axes = plt.subplots(1, len(CURVES), figsize=(FULL_WIDTH, 3.4))
    for ax, (column, ylabel, title) in zip(axes, CURVES, strict=True):
        ax.plot(training_log["tokens"], training_log[column], color="#404080", linewidth=1)
        ax.set(xlabel="training tokens", ylabel=ylabel, title=title)
        if training_log.empty:
            ax.text(0.5, 0.5, "pretrained:\nnot trained here", transform=ax.transAxes, ha="center", va="center")
    heldout = float(evaluation["fvu"].iloc[0])
    axes[0].axhline(heldout, color="#c04040", linestyle="--", linewidth=1, label=f"held out: {heldout:.3f}")
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def latent_statistics(latents: pd.DataFrame):
    """Histogram of log10 density of the latents that fire, and density against mean activation
    (coloured by the category score where there is one)."""
    live = latents[latents["density"] > 0]
    fig, (ax_hist, ax_scatter) = plt.subplots(1, 2, figsize=(FULL_WIDTH, 3.6))
    ax_hist.hist(np.log10(live["density"]), bins=40, color="#606060")
    dead = len(latents) - len(live)
    ax_hist.set(
        xlabel="log10 density (fraction of held-out tokens)",
        ylabel="latents",
        title=f"Latent density ({dead} never fire)",
    )
    scores = [column for column in latents.columns if column.endswith("_score")]
    colour = live[scores[0]] if scores else "#404080"
    points = ax_scatter.scatter(live["density"], live["mean_activation"], c=colour, s=8, cmap=SEQUENTIAL_CMAP)
    ax_scatter.set(xscale="log", xlabel="density", ylabel="mean non-zero activation", title="Density and strength")
    if scores:
        fig.colorbar(points, ax=ax_scatter, label=scores[0].replace("_", " "))
    fig.tight_layout()
    return fig


PAGE_STYLE = """
body { font-family: 'DejaVu Sans', sans-serif; font-size: 13px; margin: 1em; }
table { border-collapse: collapse; }
th { cursor: pointer; background: #eee; position: sticky; top: 0; padding: 4px 8px; text-align: left; }
th.sorted-desc::after { content: ' ▼'; } th.sorted-asc::after { content: ' ▲'; }
td { border-top: 1px solid #ddd; padding: 3px 8px; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.context { font-family: 'DejaVu Sans Mono', monospace; white-space: pre; }
mark { background: #f4a460; } .value { color: #666; margin-left: 1em; }
"""

PAGE_SCRIPT = """
function sortBy(column) {
  const header = document.querySelectorAll('th')[column];
  const descending = !header.classList.contains('sorted-desc');
  document.querySelectorAll('th').forEach(th => th.classList.remove('sorted-desc', 'sorted-asc'));
  header.classList.add(descending ? 'sorted-desc' : 'sorted-asc');
  const body = document.querySelector('tbody');
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const difference = Number(a.cells[column].dataset.value) - Number(b.cells[column].dataset.value);
    return descending ? -difference : difference;
  });
  rows.forEach(row => body.appendChild(row));
}
document.querySelectorAll('th[data-sortable]').forEach(
  (th, index) => th.addEventListener('click', () => sortBy(Number(th.dataset.column))));
"""


def contexts_page(
    latents: pd.DataFrame, contexts: pd.DataFrame, evaluation: pd.DataFrame, title: str, max_latents: int
) -> str:
    """One HTML page: a row per latent (the ``max_latents`` densest that fire) with its statistics
    and top-activating contexts; clicking a statistic's header sorts by it."""
    numbers = ["latent", "density", "mean_activation", *[c for c in latents.columns if c.endswith("_score")]]
    shown = (
        latents[latents["density"] > 0].sort_values(["density", "latent"], ascending=[False, True]).head(max_latents)
    )
    by_latent = {latent: rows.sort_values("rank") for latent, rows in contexts.groupby("latent")}
    headers = "".join(
        f'<th data-sortable data-column="{i}">{html.escape(name.replace("_", " "))}</th>'
        for i, name in enumerate(numbers)
    )
    body = []
    for row in shown.itertuples(index=False):
        cells = "".join(
            f'<td class="number" data-value="{getattr(row, name)!r}">{_number(getattr(row, name))}</td>'
            for name in numbers
        )
        lines = "<br>".join(_context_line(c) for c in by_latent.get(row.latent, pd.DataFrame()).itertuples(index=False))
        body.append(f"<tr>{cells}<td>{lines}</td></tr>")
    summary = ", ".join(f"{name} {_number(value)}" for name, value in evaluation.iloc[0].items())
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{PAGE_STYLE}</style></head><body>"
        f"<h2>Top-activating contexts: {html.escape(title)}</h2>"
        f"<p>Held-out shards: {html.escape(summary)}. {len(shown)} of {len(latents)} latents shown (the densest "
        "that fire); click a column header to sort by it.</p>"
        f"<table><thead><tr>{headers}<th>top-activating contexts (token highlighted, activation)</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table><script>{PAGE_SCRIPT}</script></body></html>"
    )


def _context_line(context) -> str:
    """One top-activating context: the text around the token, the token highlighted, its activation."""
    text = f"{html.escape(context.before)}<mark>{html.escape(context.token)}</mark>{html.escape(context.after)}"
    return f'<span class="context">{text}</span><span class="value">{context.activation:.3g}</span>'


def _number(value) -> str:
    if isinstance(value, int | np.integer):
        return str(int(value))
    return f"{value:.4g}"

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


SHADES = 10  # levels of a context token's background, by the latent's activation there over its largest
PAGE_STYLE = """
body { font-family: 'DejaVu Sans', sans-serif; font-size: 13px; margin: 1em; }
table { border-collapse: collapse; }
th { cursor: pointer; background: #eee; position: sticky; top: 0; padding: 4px 8px; text-align: left; }
th.sorted-desc::after { content: ' ▼'; } th.sorted-asc::after { content: ' ▲'; }
td { border-top: 1px solid #ddd; padding: 3px 8px; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.context { font-family: 'DejaVu Sans Mono', monospace; white-space: pre; }
mark { background: #f4a460; outline: 1px solid #c06000; } .value { color: #666; margin-left: 1em; }
svg.histogram path { fill: #606080; }
.logits span { font-family: 'DejaVu Sans Mono', monospace; background: #f2f2f2; margin-right: 2px; white-space: pre; }
.top { color: #2a7a2a; } .bottom { color: #a03030; }
""" + "".join(
    f".s{level} {{ background: rgba(244, 164, 96, {level / SHADES:.1f}); }}\n" for level in range(1, SHADES + 1)
)

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
    latents: pd.DataFrame,
    contexts: pd.DataFrame,
    evaluation: pd.DataFrame,
    title: str,
    max_latents: int,
    histograms: pd.DataFrame | None = None,
    logits: pd.DataFrame | None = None,
    shading: pd.DataFrame | None = None,
) -> str:
    """One HTML page: a row per latent (the ``max_latents`` densest that fire) with its statistics, its
    activation histogram, the tokens its decoder direction raises and lowers most, and its top-activating
    contexts, every token shaded by the latent's activation there (``shading``; without it, the activating
    token marked); clicking a statistic's header sorts by it."""
    numbers = ["latent", "density", "mean_activation", *[c for c in latents.columns if c.endswith("_score")]]
    shown = (
        latents[latents["density"] > 0].sort_values(["density", "latent"], ascending=[False, True]).head(max_latents)
    )
    by_latent = {latent: rows.sort_values("rank") for latent, rows in contexts.groupby("latent")}
    histogram_of = {} if histograms is None else dict(tuple(histograms.groupby("latent")))
    logits_of = {} if logits is None else dict(tuple(logits.groupby("latent")))
    shading_of = (
        {}
        if shading is None
        else {key: rows.sort_values("offset") for key, rows in shading.groupby(["latent", "rank"])}
    )
    headers = "".join(
        f'<th data-sortable data-column="{i}">{html.escape(name.replace("_", " "))}</th>'
        for i, name in enumerate(numbers)
    )
    extra = "".join(
        f"<th>{name}</th>"
        for name, given in (("activations", histograms), ("logit effect", logits))
        if given is not None
    )
    body = []
    for row in shown.itertuples(index=False):
        cells = "".join(
            f'<td class="number" data-value="{getattr(row, name)!r}">{_number(getattr(row, name))}</td>'
            for name in numbers
        )
        if histograms is not None:
            cells += f"<td>{_histogram_svg(histogram_of.get(row.latent))}</td>"
        if logits is not None:
            cells += f'<td class="logits">{_logit_lists(logits_of.get(row.latent))}</td>'
        latent_contexts = by_latent.get(row.latent, pd.DataFrame())
        top = float(latent_contexts["activation"].max()) if len(latent_contexts) else 0.0
        lines = "<br>".join(
            _shaded_line(shading_of[(row.latent, c.rank)], top, c.activation)
            if (row.latent, c.rank) in shading_of
            else _context_line(c)
            for c in latent_contexts.itertuples(index=False)
        )
        body.append(f"<tr>{cells}<td>{lines}</td></tr>")
    summary = ", ".join(f"{name} {_number(value)}" for name, value in evaluation.iloc[0].items())
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{PAGE_STYLE}</style></head><body>"
        f"<h2>Top-activating contexts: {html.escape(title)}</h2>"
        f"<p>Held-out shards: {html.escape(summary)}. {len(shown)} of {len(latents)} latents shown (the densest "
        "that fire); click a column header to sort by it.</p>"
        f"<table><thead><tr>{headers}{extra}<th>top-activating contexts (each token shaded by the latent's "
        "activation, the activating token marked)</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table><script>{PAGE_SCRIPT}</script></body></html>"
    )


def _histogram_svg(bars: pd.DataFrame | None, width: int = 120, height: int = 32) -> str:
    """A latent's activation histogram as an inline SVG, one path of bars from 0 to its largest activation."""
    if bars is None or bars.empty:
        return ""
    counts = bars.sort_values("bin")["count"].to_numpy()
    step, tallest = width / len(counts), max(int(counts.max()), 1)
    path = "".join(
        f"M{i * step:.1f} {height}v{-height * count / tallest:.1f}h{step * 0.9:.1f}v{height * count / tallest:.1f}z"
        for i, count in enumerate(counts)
        if count
    )
    label = f"0 – {bars['high'].max():.3g}, {len(counts)} bins, at most {tallest} tokens"
    return f'<svg class="histogram" width="{width}" height="{height}"><title>{label}</title><path d="{path}"/></svg>'


def _logit_lists(tokens: pd.DataFrame | None) -> str:
    """The tokens the latent's decoder direction raises (▲) and lowers (▼) most, with the logit effect."""
    if tokens is None or tokens.empty:
        return ""
    lines = []
    for direction, arrow in (("top", "▲"), ("bottom", "▼")):
        rows = tokens[tokens["direction"] == direction].sort_values("rank")
        items = "".join(
            f'<span title="{logit:+.3g}">{html.escape(token)}</span>'
            for token, logit in zip(rows["token"], rows["logit"], strict=True)
        )
        lines.append(f'<b class="{direction}">{arrow}</b> {items}')
    return "<br>".join(lines)


def _shaded_line(rows: pd.DataFrame, top: float, activation: float) -> str:
    """One context, each token's background as strong as the latent's activation there (of its largest, in
    :data:`SHADES` levels; the value on hover); a token where the latent is 0 is plain text."""
    spans = []
    for offset, token, value in zip(rows["offset"], rows["token"], rows["activation"], strict=True):
        text = html.escape(token)
        text = f"<mark>{text}</mark>" if offset == 0 else text
        level = 0 if top <= 0 else min(int(np.ceil(SHADES * max(value, 0.0) / top)), SHADES)
        spans.append(f'<span class="s{level}" title="{value:.2g}">{text}</span>' if level else text)
    return f'<span class="context">{"".join(spans)}</span><span class="value">{activation:.3g}</span>'


def _context_line(context) -> str:
    """One top-activating context: the text around the token, the token highlighted, its activation."""
    text = f"{html.escape(context.before)}<mark>{html.escape(context.token)}</mark>{html.escape(context.after)}"
    return f'<span class="context">{text}</span><span class="value">{context.activation:.3g}</span>'


def _number(value) -> str:
    if isinstance(value, int | np.integer):
        return str(int(value))
    return f"{value:.4g}"

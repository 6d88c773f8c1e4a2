"""Token-coloured text as a standalone HTML page; each token shows its value on hover."""

from __future__ import annotations

import html

import matplotlib as mpl
import numpy as np


def html_heatmap(tokens, values, norm, cmap: str, title: str) -> str:
    """An HTML page: one ``<span>`` per token, background from ``cmap(norm(value))``, value in ``title``."""
    colormap = mpl.colormaps[cmap]
    spans = []
    for token, value in zip(tokens, values, strict=True):
        colour = mpl.colors.to_hex(colormap(norm(value))) if np.isfinite(value) else "#ffffff"
        text = html.escape(token).replace(" ", "&nbsp;").replace("\n", "&#8629;<br>")
        spans.append(f'<span class="token" style="background:{colour}" title="{value:.4g}">{text}</span>')
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:monospace;font-size:15px;line-height:2.1;max-width:60em;margin:2em}"
        ".token{padding:2px 1px;border-radius:3px}</style></head><body>"
        f"<h3>{html.escape(title)}</h3><p>{''.join(spans)}</p></body></html>\n"
    )

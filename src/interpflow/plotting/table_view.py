"""A Parquet table as a standalone HTML page, for the report (the Parquet file stays the data)."""

from __future__ import annotations

import html

import pandas as pd

STYLE = (
    "body{font-family:'DejaVu Sans',sans-serif;font-size:13px;margin:1.5em}"
    "table{border-collapse:collapse}th,td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
    "th{background:#f3f3f3;position:sticky;top:0}"
)


def table_page(frame: pd.DataFrame, title: str, max_rows: int = 2000) -> str:
    """An HTML page showing ``frame`` (its first ``max_rows`` rows, saying so when it has more)."""
    shown = frame.head(max_rows)
    note = (
        f"first {len(shown):,} of {len(frame):,} rows; the full table is the Parquet file"
        if len(frame) > max_rows
        else f"{len(frame):,} rows"
    )
    body = shown.to_html(index=False, float_format=lambda value: f"{value:.6g}", border=0, na_rep="")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h3>{html.escape(title)}</h3><p>{note}</p>{body}</body></html>\n"
    )

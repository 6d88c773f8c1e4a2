"""A Parquet table as a standalone HTML page, for the report (the Parquet file stays the data)."""

from __future__ import annotations

import html

import pandas as pd

STYLE = (
    "body{font-family:'DejaVu Sans',sans-serif;font-size:13px;margin:1.5em}"
    "table{border-collapse:collapse}th,td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
    "th{background:#f3f3f3;position:sticky;top:0}.provenance{color:#555;font-size:11px;margin-top:1.5em}"
)


def provenance_summary(record: dict | None) -> str:
    """HTML lines naming what made a table: model identity, commit, package versions."""
    if record is None:
        return "<p class='provenance'>No provenance recorded.</p>"
    model = record.get("model") or {}
    revision = model.get("revision") or ("unpinned" if model.get("source") == "hub" else None)
    model_line = ", ".join(
        f"{key} {value}"
        for key, value in (
            ("model", model.get("name")),
            ("source", model.get("source")),
            ("hub id", model.get("hub_id")),
            ("revision", revision),
            ("commit", model.get("commit")),
            ("weights sha256", model.get("weights_sha256")),
        )
        if value
    )
    project = record["interpflow"]
    commit = project["commit"] or "not a git checkout"
    code = f"interpflow {project['version']}, commit {commit}" + (" (uncommitted changes)" if project["dirty"] else "")
    packages = ", ".join(f"{name} {version}" for name, version in record["packages"].items())
    lines = [line for line in (model_line, code, packages) if line]
    return "<p class='provenance'>" + "<br>".join(html.escape(line) for line in lines) + "</p>"


def table_page(frame: pd.DataFrame, title: str, max_rows: int = 2000, provenance: dict | None = None) -> str:
    """An HTML page showing ``frame`` (its first ``max_rows`` rows, saying so when it has more) and,
    under it, what made it (``provenance``: the table's record, see :mod:`interpflow.runtime.provenance`)."""
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
        f"<h3>{html.escape(title)}</h3><p>{note}</p>{body}{provenance_summary(provenance)}</body></html>\n"
    )

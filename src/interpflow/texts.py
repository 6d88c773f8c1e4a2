"""Read text sets: a ``.txt`` file is one text; a ``.tsv`` file holds one text per row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_text_set(path: str | Path, column: str | None = None) -> list[str]:
    """Return the texts of a text set, in file order.

    A ``.txt`` file is a single text (one trailing newline dropped). A ``.tsv`` file is read
    with a header; ``column`` names the column that holds the texts.
    """
    path = Path(path)
    if path.suffix == ".txt":
        texts = [path.read_text(encoding="utf-8").removesuffix("\n")]
    elif path.suffix == ".tsv":
        table = read_text_table(path)
        if column not in table.columns:
            raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(table.columns)})")
        texts = table[column].tolist()
    else:
        raise ValueError(f"{path}: expected a .txt or .tsv file")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path}: text {i} is empty")
    return texts


def read_text_table(path: str | Path) -> pd.DataFrame:
    """Read a tab-separated text table as strings (no NA conversion)."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)

"""Read text sets: the stimuli a method runs on.

=============  ===========================================================================
format         what a text set is
=============  ===========================================================================
``.txt``       one text: the whole file (UTF-8), one final newline dropped
``.tsv``       one text per row; a header row names the columns (tab-separated)
``.csv``       the same, comma-separated (quoted as by Python's ``csv`` module)
``.jsonl``     one JSON object per line; the text and group are fields
``.parquet``   one text per row
=============  ===========================================================================

Tables take the texts from ``text_column`` and, where a method compares groups, each text's group
from ``group_column``. Values are read as strings, with no conversion (``NA`` is a word).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from interpflow.stores.utf8 import NotUTF8, check_utf8

TABLE_FORMATS = (".tsv", ".csv", ".jsonl", ".parquet")
FORMATS = (".txt", *TABLE_FORMATS)


class TextSetError(ValueError):
    """A text set that cannot be used; ``option`` is the ``texts.<name>`` option to fix."""

    def __init__(self, option: str, problem: str):
        self.option = option
        super().__init__(problem)


@dataclass(frozen=True)
class TextSet:
    """The texts of a text set in file order, and each text's group (``None`` without a group column)."""

    texts: list[str]
    groups: list[str] | None = None


def read_text_set(path: str | Path, text_column: str = "text", group_column: str | None = None) -> TextSet:
    """Read and check a text set; :class:`TextSetError` names the problem, the row and the fix."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise TextSetError("path", f"{str(path)!r}: expected one of {', '.join(FORMATS)}")
    if not path.exists():
        raise TextSetError("path", f"file {str(path)!r} does not exist")
    if not path.is_file():
        raise TextSetError("path", f"{str(path)!r} is not a readable file (a folder?)")
    try:
        if path.suffix != ".parquet":
            check_utf8(path)  # first: it names the line and byte, which the readers below cannot
        if path.suffix == ".txt":
            text_set = TextSet([path.read_text(encoding="utf-8").removesuffix("\n")])
        else:
            text_set = _table_text_set(path, text_column, group_column)
    except NotUTF8 as error:
        raise TextSetError("path", str(error)) from None
    except (OSError, ValueError) as error:
        if isinstance(error, TextSetError):
            raise
        raise TextSetError("path", f"{str(path)!r} cannot be read as {path.suffix}: {error}") from None
    _check_not_empty(path, text_set.texts, "text_column" if path.suffix != ".txt" else "path")
    if text_set.groups is not None:
        for index, group in enumerate(text_set.groups):
            if not group.strip():
                raise TextSetError(
                    "group_column", f"{str(path)!r}: {row_name(path, index)} has an empty {group_column!r}"
                )
    return text_set


def row_name(path: Path, index: int) -> str:
    """Row ``index`` (0-based) of a table as an editor shows it: ``row 3 (line 4)`` (rows from 1; the
    file line where the format has lines: a header line first in .csv and .tsv)."""
    offset = {".csv": 2, ".tsv": 2, ".jsonl": 1}.get(path.suffix)
    return f"row {index + 1}" + ("" if offset is None else f" (line {index + offset})")


def read_table(path: str | Path) -> pd.DataFrame:
    """A table-format text set as strings, one row per text."""
    path = Path(path)
    if path.suffix in (".tsv", ".csv"):
        separator = "\t" if path.suffix == ".tsv" else ","
        return pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False, encoding="utf-8")
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False, encoding="utf-8")
    return pd.read_parquet(path)


def _table_text_set(path: Path, text_column: str, group_column: str | None) -> TextSet:
    table = read_table(path)
    for option, column in (("text_column", text_column), ("group_column", group_column)):
        if column is not None and column not in table.columns:
            raise TextSetError(
                option, f"{str(path)!r} has no column {column!r} (its columns: {', '.join(map(str, table.columns))})"
            )
    for option, column in (("text_column", text_column), ("group_column", group_column)):
        if column is not None:
            missing = [index for index, value in enumerate(table[column]) if value is None or value != value]  # NaN
            if missing:
                where = row_name(path, missing[0])
                problem = f"{str(path)!r}: {where} has no field {column!r} (missing); give every record one"
                raise TextSetError(option, problem)
    texts = [str(value) for value in table[text_column]]
    groups = None if group_column is None else [str(value) for value in table[group_column]]
    return TextSet(texts, groups)


def _check_not_empty(path: Path, texts: list[str], option: str) -> None:
    if not texts:
        raise TextSetError(option, f"{str(path)!r} holds no text")
    for index, text in enumerate(texts):
        if not text.strip():
            where = (
                "the file is empty or only whitespace" if path.suffix == ".txt" else f"{row_name(path, index)} is empty"
            )
            raise TextSetError(option, f"{str(path)!r}: {where}; remove it or give it text")

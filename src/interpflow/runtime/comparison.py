"""Tables that put a method's instances and models side by side, from their cached result tables.

Every comparison table is tidy and starts with the same columns: ``instance``, ``model``,
``n_layer`` (the model's block count) and, for per-layer measures, ``layer`` and
``relative_depth`` (``layer / (n_layer - 1)``: 0 is the first block and 1 the last, so models of
different depth share one axis).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

RUN_COLUMNS = ["instance", "model", "n_layer"]


@dataclass(frozen=True)
class Run:
    """One instance of a method on one model: the unit a comparison compares."""

    instance: str
    model: str
    n_layer: int

    @property
    def label(self) -> str:
        return f"{self.instance} · {self.model}"


def relative_depth(layer, n_layer: int):
    """``layer / (n_layer - 1)``: 0 at the first block, 1 at the last (0 for a one-block model)."""
    return layer / (n_layer - 1) if n_layer > 1 else layer * 0.0


def stack_runs(frames: list[pd.DataFrame], runs: list[Run]) -> pd.DataFrame:
    """One table from one frame per run, each row labelled with its run (and relative depth)."""
    labelled = []
    for frame, run in zip(frames, runs, strict=True):
        columns = {"instance": run.instance, "model": run.model, "n_layer": run.n_layer}
        if "layer" in frame.columns:
            columns["relative_depth"] = relative_depth(frame["layer"].astype(float), run.n_layer)
        labelled.append(frame.assign(**columns))
    table = pd.concat(labelled, ignore_index=True)
    first = [c for c in [*RUN_COLUMNS, "layer", "relative_depth"] if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def depth_axis(table: pd.DataFrame) -> tuple[str, str]:
    """The x column and label for per-layer measures: the block index when every model has the
    same depth, else the relative depth."""
    if table["n_layer"].nunique() == 1:
        return "layer", "Transformer block"
    return "relative_depth", "Relative depth (0 = first block, 1 = last)"


def read_run_file(path: str | Path) -> pd.DataFrame | dict:
    """One run's cached file as a comparison reads it: a Parquet table, or a JSON object."""
    path = Path(path)
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    return pd.read_parquet(path)

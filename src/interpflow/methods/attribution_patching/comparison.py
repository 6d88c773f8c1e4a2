"""attribution_patching: every run's estimated scores side by side, the strongest slot per block and site."""

from __future__ import annotations

import pandas as pd

from interpflow.circuits.patch_comparison import strongest_slots, strongest_slots_figure
from interpflow.runtime.comparison import Run


def comparison_table(runs: list[Run], patching: list[pd.DataFrame]) -> pd.DataFrame:
    """``comparison.parquet``: one row per (instance, model, site, block): ``max_score``, the largest
    estimated score of any position (or head) in that block, and ``argmax``, that position (or head)."""
    return strongest_slots(runs, patching)


def comparison_figure(table: pd.DataFrame):
    """One panel per site: each run's largest estimated score in each block, by depth."""
    return strongest_slots_figure(table, "largest estimated score in the block")

"""activation_patching: every run's patching side by side, the strongest patch per block and site."""

from __future__ import annotations

import pandas as pd

from interpflow.circuits.patch_comparison import strongest_slots, strongest_slots_figure
from interpflow.runtime.comparison import Run


def comparison_table(runs: list[Run], patching: list[pd.DataFrame]) -> pd.DataFrame:
    """``comparison.parquet``: one row per (instance, model, site, block): ``max_score``, the largest
    score of any position (or head) patched in that block, and ``argmax``, that position (or head)."""
    return strongest_slots(runs, patching)


def comparison_figure(table: pd.DataFrame):
    """One panel per site: each run's largest score in each block, by depth."""
    return strongest_slots_figure(table, "largest score in the block")

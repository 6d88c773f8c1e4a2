"""The tables of patching scores (over the pairs, and pair by pair) and the pairs, from per-pair logit
differences: run patches (activation patching) or their gradient estimates (attribution patching).

A patch's ``score`` is ``(patched - corrupted) / (clean - corrupted)`` of the pairs' mean logit
differences (NaN where the clean and corrupted means are equal). A pair's logit differences are
``(hook, layer) -> (variants,)`` arrays, plus ``("clean", 0)`` and ``("corrupted", 0)``
(``patch_pair`` of either method).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HEAD_SITE = "attn.hook_z"
# Sites scored per head (at the patched positions) rather than per position: heads' outputs, and (estimated
# only) their queries and keys
PER_HEAD_SITES = (HEAD_SITE, "attn.hook_q", "attn.hook_k")
PATCHING_COLUMNS = ["site", "layer", "position", "head", "logit_diff", "score"]
BY_PAIR_COLUMNS = ["site", "layer", "position", "head", "pair", "logit_diff", "score"]
PAIR_COLUMNS = ["pair", "clean", "corrupted", "answer", "wrong_answer", "clean_logit_diff", "corrupted_logit_diff"]


def patching_table(
    per_pair: list[dict[tuple[str, int], np.ndarray]], sites: list[str], positions: list[int]
) -> pd.DataFrame:
    """``patching.parquet``: one row per (site, layer, position or head); ``logit_diff`` is the mean over
    pairs, ``score`` it normalized (module docstring); ``position`` is empty for heads, ``head`` for the rest."""
    mean = {key: np.mean([pair[key] for pair in per_pair], axis=0) for key in per_pair[0]}
    return _typed(pd.DataFrame(_patch_rows(mean, sites, positions), columns=PATCHING_COLUMNS))


def patching_by_pair_table(
    per_pair: list[dict[tuple[str, int], np.ndarray]], sites: list[str], positions: list[int]
) -> pd.DataFrame:
    """``patching_by_pair.parquet``: the rows of :func:`patching_table` for each pair on its own (``pair``:
    its row in ``pairs.parquet``), ``score`` normalized by that pair's own clean and corrupted logit
    differences; for spreads and intervals over pairs. The mean of ``logit_diff`` over pairs is
    ``patching.parquet``'s."""
    rows = [
        (*row[:4], pair, *row[4:])
        for pair, diffs in enumerate(per_pair)
        for row in _patch_rows(diffs, sites, positions)
    ]
    return _typed(pd.DataFrame(rows, columns=BY_PAIR_COLUMNS).astype({"pair": "int64"}))


def _patch_rows(diffs: dict[tuple[str, int], np.ndarray], sites: list[str], positions: list[int]):
    """``(site, layer, position, head, logit_diff, score)`` of every variant in ``diffs`` (one pair's
    logit differences, or their mean over pairs), normalized by its own clean and corrupted entries."""
    clean, corrupted = float(diffs[("clean", 0)][0]), float(diffs[("corrupted", 0)][0])
    scale = clean - corrupted
    for hook in sites:
        blocks = sorted(block for name, block in diffs if name == hook)
        for layer in blocks:
            for index, value in enumerate(diffs[(hook, layer)]):
                position, head = (pd.NA, index) if hook in PER_HEAD_SITES else (positions[index], pd.NA)
                score = (value - corrupted) / scale if scale != 0 else float("nan")
                yield hook, layer, position, head, float(value), float(score) + 0.0  # no -0.0


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    return table.astype({"layer": "int64", "position": "Int64", "head": "Int64"})


def pairs_table(pairs, per_pair: list[dict[tuple[str, int], np.ndarray]]) -> pd.DataFrame:
    """``pairs.parquet``: each pair (a :class:`~interpflow.stores.prompt_pairs.PromptPairs` row)
    with its clean and corrupted logit differences."""
    return pd.DataFrame(
        {
            "pair": range(len(per_pair)),
            "clean": pairs.clean,
            "corrupted": pairs.corrupted,
            "answer": pairs.answers,
            "wrong_answer": pairs.wrong_answers,
            "clean_logit_diff": [float(pair[("clean", 0)][0]) for pair in per_pair],
            "corrupted_logit_diff": [float(pair[("corrupted", 0)][0]) for pair in per_pair],
        },
        columns=PAIR_COLUMNS,
    )

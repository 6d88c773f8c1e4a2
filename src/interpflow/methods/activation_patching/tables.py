"""activation_patching's tables: the patching scores and the pairs, from per-pair logit differences.

A patch's ``score`` is ``(patched - corrupted) / (clean - corrupted)`` of the pairs' mean logit
differences (NaN where the clean and corrupted means are equal). A pair's logit differences are
``(hook, layer) -> (variants,)`` arrays, plus ``("clean", 0)`` and ``("corrupted", 0)``
(:func:`interpflow.methods.activation_patching.patching.patch_pair`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HEAD_SITE = "attn.hook_z"
PATCHING_COLUMNS = ["site", "layer", "position", "head", "logit_diff", "score"]
PAIR_COLUMNS = ["pair", "clean", "corrupted", "answer", "wrong_answer", "clean_logit_diff", "corrupted_logit_diff"]


def patching_table(
    per_pair: list[dict[tuple[str, int], np.ndarray]], sites: list[str], positions: list[int]
) -> pd.DataFrame:
    """``patching.parquet``: one row per (site, layer, position or head); ``logit_diff`` is the mean over
    pairs, ``score`` it normalized (module docstring); ``position`` is empty for heads, ``head`` for the rest."""
    mean = {key: np.mean([pair[key] for pair in per_pair], axis=0) for key in per_pair[0]}
    clean, corrupted = float(mean[("clean", 0)][0]), float(mean[("corrupted", 0)][0])
    scale = clean - corrupted
    rows = []
    for hook in sites:
        layers = sorted(layer for name, layer in mean if name == hook)
        for layer in layers:
            for index, value in enumerate(mean[(hook, layer)]):
                position, head = (pd.NA, index) if hook == HEAD_SITE else (positions[index], pd.NA)
                score = (value - corrupted) / scale if scale != 0 else float("nan")
                rows.append((hook, layer, position, head, float(value), float(score) + 0.0))  # no -0.0
    table = pd.DataFrame(rows, columns=PATCHING_COLUMNS)
    return table.astype({"layer": "int64", "position": "Int64", "head": "Int64"})


def pairs_table(pairs, per_pair: list[dict[tuple[str, int], np.ndarray]]) -> pd.DataFrame:
    """``pairs.parquet``: each pair (a :class:`~interpflow.methods.activation_patching.pairs.PromptPairs` row)
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

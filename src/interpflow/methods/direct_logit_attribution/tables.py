"""direct_logit_attribution's tables: every term of every pair, their means over pairs, and the pairs.

A row is one term of the clean logit difference (logit units): ``component`` is ``embed``, ``head``
(``layer``, ``head``), ``attn_bias`` (the output projection's bias, ``layer``), ``attn`` (the block's
attention update: its heads and bias), ``mlp`` (``layer``), ``neuron`` (``layer``, ``neuron``) and
``mlp_bias`` (the down projection's bias) where neurons were asked for, ``final_norm_bias`` and
``unembed_bias`` (families whose final norm or unembedding has a bias). ``part`` marks the rows that
partition the whole (``embed``, ``head``, ``attn_bias``, ``mlp``, the two constants): they sum to the
pair's ``logit_diff``; ``attn`` totals its heads and bias, and ``neuron`` rows with ``mlp_bias`` total
their block's ``mlp``. ``fraction`` is the term over the clean logit difference (NaN where that is 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from interpflow.methods.direct_logit_attribution.attribution import PairAttribution

KEY_COLUMNS = ["component", "layer", "head", "neuron", "part"]
ATTRIBUTION_COLUMNS = [*KEY_COLUMNS, "attribution", "fraction"]
BY_PAIR_COLUMNS = ["pair", *ATTRIBUTION_COLUMNS]
PAIR_COLUMNS = ["pair", "clean", "answer", "wrong_answer", "logit_diff", "parts_sum"]
PARTS = {"embed", "head", "attn_bias", "mlp", "final_norm_bias", "unembed_bias"}


def term_rows(terms: PairAttribution):
    """``(component, layer, head, neuron, attribution)`` of every term of one pair."""
    yield "embed", pd.NA, pd.NA, pd.NA, terms.embed
    n_layer, n_head = terms.heads.shape
    for layer in range(n_layer):
        for head in range(n_head):
            yield "head", layer, head, pd.NA, terms.heads[layer, head]
        yield "attn_bias", layer, pd.NA, pd.NA, terms.attn_bias[layer]
        yield "attn", layer, pd.NA, pd.NA, terms.attn[layer]
        yield "mlp", layer, pd.NA, pd.NA, terms.mlp[layer]
        if terms.neurons is not None:
            for neuron, value in enumerate(terms.neurons[layer]):
                yield "neuron", layer, pd.NA, neuron, value
            yield "mlp_bias", layer, pd.NA, pd.NA, terms.mlp_bias[layer]
    yield "final_norm_bias", pd.NA, pd.NA, pd.NA, terms.final_norm_bias
    yield "unembed_bias", pd.NA, pd.NA, pd.NA, terms.unembed_bias


def _table(terms: PairAttribution) -> pd.DataFrame:
    table = pd.DataFrame(list(term_rows(terms)), columns=["component", "layer", "head", "neuron", "attribution"])
    table.insert(4, "part", table["component"].isin(PARTS))
    table["attribution"] = table["attribution"].astype("float64")
    scale = terms.logit_diff
    table["fraction"] = table["attribution"] / scale if scale != 0 else np.nan
    return table.astype({"layer": "Int64", "head": "Int64", "neuron": "Int64"})


def attribution_by_pair_table(per_pair: list[PairAttribution]) -> pd.DataFrame:
    """``attribution_by_pair.parquet``: every term of every pair (``pair``: its row in ``pairs.parquet``)."""
    frames = [_table(terms).assign(pair=index) for index, terms in enumerate(per_pair)]
    return pd.concat(frames, ignore_index=True)[BY_PAIR_COLUMNS]


def attribution_table(per_pair: list[PairAttribution]) -> pd.DataFrame:
    """``attribution.parquet``: each term's mean over the pairs, ``fraction`` of the mean logit difference."""
    by_pair = attribution_by_pair_table(per_pair)
    first = by_pair[by_pair["pair"] == 0][KEY_COLUMNS].reset_index(drop=True)
    values = np.stack([by_pair.loc[by_pair["pair"] == pair, "attribution"].to_numpy() for pair in range(len(per_pair))])
    mean_diff = float(np.mean([terms.logit_diff for terms in per_pair]))
    attribution = values.mean(axis=0)
    fraction = attribution / mean_diff if mean_diff != 0 else np.full_like(attribution, np.nan)
    return first.assign(attribution=attribution, fraction=fraction)[ATTRIBUTION_COLUMNS]


def pairs_table(pairs, per_pair: list[PairAttribution]) -> pd.DataFrame:
    """``pairs.parquet``: each pair's clean prompt and answers, its logit difference (the model's, before
    any soft-cap) and the sum of its parts."""
    return pd.DataFrame(
        {
            "pair": range(len(per_pair)),
            "clean": pairs.clean,
            "answer": pairs.answers,
            "wrong_answer": pairs.wrong_answers,
            "logit_diff": [terms.logit_diff for terms in per_pair],
            "parts_sum": [terms.parts_sum for terms in per_pair],
        },
        columns=PAIR_COLUMNS,
    )

"""repeated_token_mi: information shared by the vectors of a repeated token, by distance and layer.

For every pair of occurrences of the target token (the lecture: " coffee"), the attention and MLP
updates of the residual stream (``blocks.L.hook_attn_out``, ``blocks.L.hook_mlp_out``) at the two
positions are compared as paired samples over the ``d_model`` dimensions, with two MI estimators
(``histogram``: trimmed 2-D histogram, bits; ``knn``: scikit-learn, nats).

The Snakefile imports this module to check the config, so scipy, statsmodels, joblib and
scikit-learn are imported inside the functions that compute with them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from interpflow.methods.repeated_token_mi.method import SUBLAYERS
from interpflow.models.sites import block_site
from interpflow.runtime.progress import Progress
from interpflow.runtime.schema import option_defaults

log = logging.getLogger(__name__)

ESTIMATORS = ("histogram", "knn")
PAIR_COLUMNS = ["layer", "sublayer", "estimator", "token_i", "token_j", "position_i", "position_j", "distance", "mi"]
SUMMARY_COLUMNS = ["layer", "sublayer", "estimator", "mean_mi", "kendall_tau", "kendall_p"]
TEST_COLUMNS = ["layer", "estimator", "test", "statistic", "p_value", "p_fdr", "significant"]


def find_targets(store, word: str) -> list[int]:
    """Positions of ``word`` (one token, with its leading space) in a one-text store."""
    tokens = store.tokens
    if tokens["text_id"].nunique() != 1:
        raise ValueError("repeated_token_mi needs a store of one text")
    return tokens["position"][tokens["token"] == word].tolist()


def pair_mi(x: np.ndarray, y: np.ndarray, estimator: str, instance: dict) -> float:
    from interpflow.methods.repeated_token_mi.mutual_information import (
        knn_mutual_information,
        trimmed_histogram_mutual_information,
    )

    if estimator == "histogram":
        return trimmed_histogram_mutual_information(x, y, instance["outlier_threshold"], instance["bins"])
    return knn_mutual_information(x, y, instance["knn"]["n_neighbors"], instance["knn"]["seed"])


def layer_pairs(vectors: np.ndarray, positions: list[int], layer: int, sublayer: str, instance: dict) -> pd.DataFrame:
    """MI of every pair of target occurrences at one (layer, sublayer), both estimators.

    ``vectors``: ``(n_targets, width)`` float64, one row per occurrence.
    """
    rows = []
    for i in range(len(positions)):
        for j in range(i + 1, len(positions)):
            for estimator in ESTIMATORS:
                mi = pair_mi(vectors[i], vectors[j], estimator, instance)
                distance = positions[j] - positions[i]
                rows.append((layer, sublayer, estimator, i, j, positions[i], positions[j], distance, mi))
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def pairwise_mi_table(
    store,
    positions: list[int],
    n_layer: int,
    instance: dict,
    threads: int = option_defaults("repeated_token_mi")["threads"],
) -> pd.DataFrame:
    """``pairwise_mi.parquet``: every pair, layer, sublayer and estimator (layers run in parallel)."""
    from joblib import Parallel, delayed

    jobs = [
        delayed(layer_pairs)(store[site][positions].astype(np.float64), positions, layer, name, instance)
        for layer in range(n_layer)
        for name, hook in SUBLAYERS.items()
        for site in [block_site(layer, hook)]
    ]
    progress = Progress(len(jobs), "(layer, sublayer) sites", "MI at", log)
    frames = []
    for frame in Parallel(n_jobs=threads, return_as="generator")(jobs):
        frames.append(frame)
        progress.advance()
    return pd.concat(frames, ignore_index=True)


def layer_summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """``layer_summary.parquet``: mean MI and Kendall's tau (with p) between MI and token distance."""
    from scipy import stats

    rows = []
    for (layer, sublayer, estimator), group in pairs.groupby(["layer", "sublayer", "estimator"], sort=True):
        tau = stats.kendalltau(group["mi"], group["distance"])
        rows.append((layer, sublayer, estimator, group["mi"].mean(), tau.statistic, tau.pvalue))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def fisher_z_test(tau_a: float, tau_b: float, n: int) -> tuple[float, float]:
    """``z = (atanh a - atanh b) / sqrt(2 / (n - 3))`` and its two-sided p, as the seed compares taus."""
    from scipy import stats

    z = (np.arctanh(tau_a) - np.arctanh(tau_b)) / np.sqrt(2 / (n - 3))
    return float(z), float(2 * stats.norm.sf(abs(z)))


def sublayer_tests(pairs: pd.DataFrame, summary: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """``sublayer_tests.parquet``: MLP vs attention per layer and estimator, BH-corrected across layers.

    ``t``: independent-samples t-test of the MLP pair MIs against the attention pair MIs (MLP minus
    attention). ``z``: Fisher z comparison of the attention and MLP taus (attention minus MLP),
    two-sided.
    """
    from scipy import stats
    from statsmodels.stats.multitest import fdrcorrection

    rows = []
    for (layer, estimator), group in pairs.groupby(["layer", "estimator"], sort=True):
        attn, mlp = (group[group["sublayer"] == name]["mi"].to_numpy() for name in ("attn", "mlp"))
        t = stats.ttest_ind(mlp, attn)
        taus = summary[(summary["layer"] == layer) & (summary["estimator"] == estimator)].set_index("sublayer")
        z, p = fisher_z_test(taus.loc["attn", "kendall_tau"], taus.loc["mlp", "kendall_tau"], len(attn))
        rows += [(layer, estimator, "t", float(t.statistic), float(t.pvalue)), (layer, estimator, "z", z, p)]
    table = pd.DataFrame(rows, columns=TEST_COLUMNS[:5])
    corrected = []
    for _, group in table.groupby(["estimator", "test"], sort=False):
        finite = group["p_value"].fillna(1.0)
        significant, p_fdr = fdrcorrection(finite, alpha=alpha)
        corrected.append(group.assign(p_fdr=p_fdr, significant=significant))
    return pd.concat(corrected).sort_values(["layer", "estimator", "test"]).reset_index(drop=True)[TEST_COLUMNS]


def example_pair(store, positions: list[int], instance: dict, layer: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The lecture's example: the first two occurrences at ``layer`` and the configured sublayer.

    Returns the points (``x``, ``y``, ``outlier``) and the four MI values (``estimator``, ``data``
    all|trimmed, ``mi``).
    """
    from interpflow.methods.repeated_token_mi.mutual_information import outlier_mask

    site = block_site(layer, SUBLAYERS[instance["sublayer"]])
    x, y = (store[site][position].astype(np.float64) for position in positions[:2])
    outliers = outlier_mask(x, y, instance["outlier_threshold"])
    values = []
    for estimator in ESTIMATORS:
        for data, keep in (("all", np.ones_like(outliers)), ("trimmed", ~outliers)):
            untrimmed = {**instance, "outlier_threshold": 0}
            values.append((estimator, data, pair_mi(x[keep], y[keep], estimator, untrimmed)))
    points = pd.DataFrame({"x": x, "y": y, "outlier": outliers})
    return points, pd.DataFrame(values, columns=["estimator", "data", "mi"])

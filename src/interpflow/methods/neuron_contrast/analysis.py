"""neuron_contrast: MLP neurons whose activation at a target word tells two groups of texts apart.

Each text belongs to one of two groups, and each group has a target word (the lecture: " him" in
one group of sentences, " her" in the other). Per layer: the MLP neurons (the instance's
``neuron_site``, default ``blocks.L.mlp.hook_pre``) at each text's target token give a
``(texts, neurons)`` matrix; an independent-samples t-test per neuron compares the two groups; the
significant neurons (points) are embedded with t-SNE over texts (features) and clustered with
DBSCAN and k-means on the t-SNE coordinates.

The Snakefile imports this module to check the config, so scipy, statsmodels and scikit-learn
are imported inside the functions that compute with them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from interpflow.methods.neuron_contrast.method import (
    analysis_layers,
    group_names,
    group_targets,
    target_positions,
    tested_layers,
)
from interpflow.models.sites import block_site
from interpflow.runtime.progress import Progress

log = logging.getLogger(__name__)

TEST_COLUMNS = ["layer", "neuron", "t_statistic", "p_value", "significant"]
CLUSTER_COLUMNS = ["layer", "neuron", "tsne_x", "tsne_y", "dbscan_cluster", "kmeans_cluster", "t_statistic"]
SUMMARY_COLUMNS = ["layer", "method", "cluster", "n_units", "mean_t", "mean_abs_t"]
CORRECTIONS = {"bonferroni": "bonferroni", "fdr_bh": "fdr_bh"}  # config name -> statsmodels method


def target_activations(store, site: str, positions: list[list[int]]) -> np.ndarray:
    """``(sentences, neurons)``: ``site`` at each sentence's target (mean over several)."""
    activations = store[site]
    starts = {text_id: store.text_rows(text_id)[0] for text_id in range(len(positions))}
    return np.stack([activations[[starts[i] + p for p in found]].mean(axis=0) for i, found in enumerate(positions)])


def neuron_tests(activations: np.ndarray, in_first_group: np.ndarray, layer: int, correction: str, alpha: float):
    """``neuron_tests.parquet`` rows: two-sided independent-samples t-test (equal variances) per neuron.

    ``t`` is first group minus second; ``significant`` after the correction across neurons.
    """
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    test = stats.ttest_ind(activations[in_first_group], activations[~in_first_group], axis=0)
    significant = multipletests(test.pvalue, alpha=alpha, method=CORRECTIONS[correction])[0]
    return pd.DataFrame(
        {
            "layer": layer,
            "neuron": np.arange(activations.shape[1]),
            "t_statistic": test.statistic,
            "p_value": test.pvalue,
            "significant": significant,
        }
    )


def embed_and_cluster(activations: np.ndarray, tests: pd.DataFrame, instance: dict) -> tuple[pd.DataFrame, str]:
    """t-SNE of the significant neurons, then DBSCAN and k-means on its coordinates.

    ``activations``: ``(sentences, neurons)`` of one layer; neurons are the points and
    sentences the features. Returns the ``neuron_contrast.parquet`` rows and a note saying what
    was adapted or skipped (empty when nothing was).
    """
    from sklearn.cluster import DBSCAN, KMeans
    from sklearn.manifold import TSNE

    significant = tests[tests["significant"]]
    layer = int(tests["layer"].iloc[0])
    points = activations[:, significant["neuron"].to_numpy()].T
    n_points = len(points)
    if n_points < 3:
        note = f"layer {layer}: {n_points} significant neuron(s); t-SNE and clustering need at least 3"
        return pd.DataFrame(columns=CLUSTER_COLUMNS), note
    notes = []
    perplexity = instance["tsne"]["perplexity"]
    if perplexity >= n_points:
        perplexity = max(1.0, (n_points - 1) / 3)
        configured = instance["tsne"]["perplexity"]
        notes.append(f"perplexity lowered from {configured} to {perplexity:.2f} ({n_points} neurons)")
    tsne = TSNE(n_components=2, perplexity=perplexity, random_state=instance["tsne"]["seed"], init="pca")
    coordinates = tsne.fit_transform(points.astype(np.float64))
    dbscan = DBSCAN(eps=instance["dbscan"]["eps"], min_samples=instance["dbscan"]["min_samples"]).fit(coordinates)
    k = instance["kmeans"]["k"]
    if n_points >= k:
        kmeans = KMeans(n_clusters=k, n_init=instance["kmeans"]["n_init"], random_state=instance["kmeans"]["seed"])
        kmeans_labels = kmeans.fit_predict(coordinates)
    else:
        kmeans_labels = np.full(n_points, -1)
        notes.append(f"k-means skipped: {n_points} neurons for k = {k}")
    clusters = pd.DataFrame(
        {
            "layer": layer,
            "neuron": significant["neuron"].to_numpy(),
            "tsne_x": coordinates[:, 0],
            "tsne_y": coordinates[:, 1],
            "dbscan_cluster": dbscan.labels_,
            "kmeans_cluster": kmeans_labels,
            "t_statistic": significant["t_statistic"].to_numpy(),
        }
    )
    return clusters, "; ".join(f"layer {layer}: {note}" for note in notes)


def cluster_summary(clusters: pd.DataFrame) -> pd.DataFrame:
    """``cluster_summary.parquet``: units and mean t per cluster (DBSCAN noise, label -1, left out)."""
    rows = []
    for method in ("dbscan", "kmeans"):
        for (layer, cluster), group in clusters.groupby(["layer", f"{method}_cluster"], sort=True):
            if cluster >= 0:
                t = group["t_statistic"]
                rows.append((int(layer), method, int(cluster), len(group), float(t.mean()), float(t.abs().mean())))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def cosine_similarities(vectors: np.ndarray) -> np.ndarray:
    """``(columns, columns)`` cosine similarity between the columns of ``vectors``."""
    unit = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)
    return unit.T @ unit


def analyse(store, sentences: list[str], groups: list[str], instance: dict, n_layer: int) -> dict:
    """Everything the statistics stage writes, for every tested layer.

    Returns the tables ``neuron_tests``, ``neuron_clusters`` and ``cluster_summary``, the
    ``(sentences, neurons)`` target activations of the analysis layers (``activations``, keyed
    ``layer_<L>``, with ``first_group`` marking the sentences of the first group) and ``notes``.
    """
    names, targets = group_names(instance), group_targets(instance)
    token_strings = [store.tokens["token"].to_numpy()[store.text_rows(i)].tolist() for i in range(len(sentences))]
    words = [targets[group] for group in groups]
    positions = target_positions(token_strings, words, sentences, instance["target_policy"])
    first_group = np.array([group == names[0] for group in groups])
    tests, clusters, notes, arrays = [], [], [], {"first_group": first_group.astype(np.uint8)}
    shown = set(analysis_layers(instance, n_layer))
    layers = tested_layers(instance, n_layer)
    progress = Progress(len(layers), "layers", "tested and clustered", log)
    for layer in layers:
        activations = target_activations(store, block_site(layer, instance["neuron_site"]), positions)
        layer_tests = neuron_tests(activations, first_group, layer, instance["correction"], instance["alpha"])
        layer_clusters, note = embed_and_cluster(activations, layer_tests, instance)
        tests.append(layer_tests)
        clusters.append(layer_clusters)
        notes += [note] if note else []
        if layer in shown:
            arrays[f"layer_{layer}"] = activations.astype(np.float32)
        progress.advance(note=f"layer {layer}: {int(layer_tests['significant'].sum())} significant neurons")
    found = [layer_clusters for layer_clusters in clusters if len(layer_clusters)]
    clusters_table = pd.concat(found or [pd.DataFrame(columns=CLUSTER_COLUMNS)], ignore_index=True)
    integers = {"layer": int, "neuron": int, "dbscan_cluster": int, "kmeans_cluster": int}
    clusters_table = clusters_table.astype(integers)
    return {
        "neuron_tests": pd.concat(tests, ignore_index=True),
        "neuron_clusters": clusters_table,
        "cluster_summary": cluster_summary(clusters_table),
        "activations": arrays,
        "notes": notes,
    }

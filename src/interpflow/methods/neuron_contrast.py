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

from interpflow.comparison import Run, stack_runs
from interpflow.errors import ConfigError, leading_space_hint
from interpflow.layers import resolve_layer
from interpflow.progress import Progress
from interpflow.sites import block_site

log = logging.getLogger(__name__)

TEST_COLUMNS = ["layer", "neuron", "t_statistic", "p_value", "significant"]
CLUSTER_COLUMNS = ["layer", "neuron", "tsne_x", "tsne_y", "dbscan_cluster", "kmeans_cluster", "t_statistic"]
SUMMARY_COLUMNS = ["layer", "method", "cluster", "n_units", "mean_t", "mean_abs_t"]
COMPARISON_COLUMNS = ["instance", "model", "n_layer", "layer", "relative_depth", "n_significant", "n_neurons"]
CORRECTIONS = {"bonferroni": "bonferroni", "fdr_bh": "fdr_bh"}  # config name -> statsmodels method


def group_names(instance: dict) -> list[str]:
    """The two groups, in config order (t is the first minus the second)."""
    return [entry["group"] for entry in instance["groups"]]


def group_targets(instance: dict) -> dict[str, str]:
    """``group -> target word`` (with its leading space)."""
    return {entry["group"]: entry["target"] for entry in instance["groups"]}


def analysis_layers(instance: dict, n_layer: int) -> list[int]:
    """Layers with full per-layer figures (``layers``: a list of layers or ``middle``, or ``all``)."""
    if instance["layers"] == "all":
        return list(range(n_layer))
    return sorted({resolve_layer(layer, n_layer) for layer in instance["layers"]})


def tested_layers(instance: dict, n_layer: int) -> list[int]:
    """Every layer with tests and clusters: all layers when ``sweep``, else the analysis layers."""
    return list(range(n_layer)) if instance["sweep"] else analysis_layers(instance, n_layer)


def configured_layers(instance: dict, n_layer: int) -> list[tuple[str, int | str]]:
    if instance["layers"] == "all":
        return []
    return [(f"layers[{i}]", layer) for i, layer in enumerate(instance["layers"])]


def required_sites(instance: dict, n_layer: int) -> list[str]:
    return [block_site(layer, instance["neuron_site"]) for layer in tested_layers(instance, n_layer)]


def single_token(tokenizer, word: str) -> int:
    """The id of ``word`` (with its leading space, e.g. ``" him"``); ValueError unless one token."""
    ids = tokenizer.encode(word)
    if len(ids) != 1:
        pieces = [tokenizer.decode([i]) for i in ids]
        raise ValueError(f"target {word!r} is not a single token: it tokenizes as {pieces} (ids {ids})")
    return ids[0]


def target_positions(
    tokens: list[list], targets: list, sentences: list[str], policy: str, words: list[str] | None = None
) -> list[list[int]]:
    """Positions of each sentence's target among its tokens (ids or decoded strings, as ``targets``).

    Policy ``unique`` requires exactly one occurrence; ``first``, ``last`` and ``mean`` accept several
    (``mean`` keeps them all, to be averaged). ``words``: the targets as the messages name them
    (default: ``targets``); rows are counted from 1.
    """
    positions = []
    words = targets if words is None else words
    for row, (sequence, target, sentence, word) in enumerate(zip(tokens, targets, sentences, words, strict=True), 1):
        found = [position for position, token in enumerate(sequence) if token == target]
        if not found:
            raise ValueError(f"row {row} ({preview(sentence)}) has no {word!r}")
        if policy == "unique" and len(found) > 1:
            raise ValueError(
                f"row {row} ({preview(sentence)}) contains {word!r} {len(found)} times; "
                "set target_policy to first, last or mean"
            )
        positions.append({"unique": found, "first": found[:1], "last": found[-1:], "mean": found}[policy])
    return positions


def preview(text: str, length: int = 40) -> str:
    """``text`` quoted, cut to ``length`` characters with an ellipsis."""
    return repr(text if len(text) <= length else text[:length].rstrip() + "…")


def check_text(instance: dict, key: str, tokenized) -> None:
    """The text set has groups, they are the instance's two groups, and each text holds its target once."""
    text_set = tokenized.text_set(instance["text"])
    if text_set.groups is None:
        raise ConfigError(
            f"texts.{instance['text']}.group_column",
            f"'{key}' compares groups, but text set '{instance['text']}' names no group column; "
            "set texts.<name>.group_column to the column that holds each text's group",
        )
    groups = group_names(instance)
    if len(set(groups)) != 2:
        raise ConfigError(f"{key}.groups", f"needs two different groups, got {groups}")
    if sorted(set(text_set.groups)) != sorted(groups):
        raise ConfigError(
            f"{key}.groups",
            f"groups {groups} do not match the groups of text set '{instance['text']}': {sorted(set(text_set.groups))}",
        )
    targets = group_targets(instance)
    try:
        target_ids = {group: single_token(tokenized.tokenizer, word) for group, word in targets.items()}
        target_positions(
            tokenized.ids(instance["text"]),
            [target_ids[group] for group in text_set.groups],
            text_set.texts,
            instance["target_policy"],
            words=[targets[group] for group in text_set.groups],
        )
    except ValueError as error:
        hints = "".join(leading_space_hint(word) for word in targets.values())
        raise ConfigError(f"{key}.groups", str(error) + hints) from None


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


def comparison_table(neuron_tests_tables: list[pd.DataFrame], runs: list[Run]) -> pd.DataFrame:
    """``comparison.parquet``: significant neurons (after the correction) per tested layer of every run."""
    counts = [
        tests.groupby("layer", sort=True)["significant"].agg(n_significant="sum", n_neurons="size").reset_index()
        for tests in neuron_tests_tables
    ]
    return stack_runs(counts, runs)[COMPARISON_COLUMNS]

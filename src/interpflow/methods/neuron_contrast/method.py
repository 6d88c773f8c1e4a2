"""neuron_contrast's contract with the workflow: sites, layers, text checks, files."""

from __future__ import annotations

from interpflow.methods.contract import Method, figure_files
from interpflow.models.layers import resolve_layer
from interpflow.models.sites import block_site
from interpflow.runtime.errors import ConfigError, leading_space_hint

TABLES = {  # output name -> file
    "neuron_tests": "neuron_tests.parquet",
    "neuron_clusters": "neuron_clusters.parquet",
    "cluster_summary": "cluster_summary.parquet",
    "activations": "target_activations.safetensors",
}
LAYER_FIGURES = ["activations", "example_neuron", "t_values", "tsne", "dbscan", "dbscan_similarity", "kmeans"]


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


class NeuronContrast(Method):
    name = "neuron_contrast"
    report_tables = ("cluster_summary",)
    comparison_inputs = {"neuron_tests": "neuron_tests.parquet"}

    def configured_layers(self, instance, n_layer):
        if instance["layers"] == "all":
            return []
        return [(f"layers[{i}]", layer) for i, layer in enumerate(instance["layers"])]

    def required_sites(self, instance, n_layer):
        return [block_site(layer, instance["neuron_site"]) for layer in tested_layers(instance, n_layer)]

    def check_text(self, instance, key, tokenized):
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
                f"groups {groups} do not match the groups of text set '{instance['text']}': "
                f"{sorted(set(text_set.groups))}",
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

    def run_files(self, instance, n_layer):
        files = list(TABLES.values())
        for layer in analysis_layers(instance, n_layer):
            files += figure_files(*LAYER_FIGURES, folder=f"figures/layer{layer}")
        if instance["sweep"]:
            files += figure_files("layer_sweep")
        return files


METHOD = NeuronContrast()

"""repeated_token_mi's contract with the workflow: sites, layers, text checks, files."""

from __future__ import annotations

from interpflow.methods.contract import Method, figure_files
from interpflow.models.sites import block_site
from interpflow.runtime.errors import ConfigError, leading_space_hint

SUBLAYERS = {"attn": "hook_attn_out", "mlp": "hook_mlp_out"}
TABLES = ["pairwise_mi", "layer_summary", "sublayer_tests", "example_points", "example_mi"]
FIGURES = ["one_layer", "example_pair", "layers_histogram", "layers_knn", "estimators"]


def target_positions(token_ids: list[int], target_id: int) -> list[int]:
    return [position for position, token in enumerate(token_ids) if token == target_id]


class RepeatedTokenMI(Method):
    name = "repeated_token_mi"
    report_tables = ("layer_summary", "sublayer_tests")
    comparison_inputs = {"layer_summaries": "layer_summary.parquet"}

    def configured_layers(self, instance, n_layer):
        return [("layer", instance["layer"])]

    def required_sites(self, instance, n_layer):
        return [block_site(layer, hook) for layer in range(n_layer) for hook in SUBLAYERS.values()]

    def check_text(self, instance, key, tokenized):
        """The target is one token and occurs at least ``min_occurrences`` times in the one text."""
        ids = tokenized.ids(instance["text"])
        if len(ids) != 1:
            raise ConfigError(f"{key}.text", f"needs a text set of one text, '{instance['text']}' has {len(ids)}")
        word = instance["target"]
        target = tokenized.tokenizer.encode(word)
        pieces = [tokenized.tokenizer.decode([i]) for i in target]
        if len(target) != 1:
            problem = f"{word!r} is not a single token: it tokenizes as {pieces}"
            raise ConfigError(f"{key}.target", problem + leading_space_hint(word))
        found = len(target_positions(ids[0], target[0]))
        if found < instance["min_occurrences"]:
            problem = (
                f"{word!r} (token {pieces}) occurs {found} time(s) in '{instance['text']}'; "
                f"at least {instance['min_occurrences']} are needed"
            )
            raise ConfigError(f"{key}.target", problem + leading_space_hint(word))

    def run_files(self, instance, n_layer):
        return [f"{table}.parquet" for table in TABLES] + figure_files(*FIGURES)


METHOD = RepeatedTokenMI()

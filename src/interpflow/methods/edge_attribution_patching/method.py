"""edge_attribution_patching's contract with the workflow: sites, pair checks, files."""

from __future__ import annotations

from interpflow.methods.contract import Method, figure_files
from interpflow.models.sites import block_site
from interpflow.runtime.errors import ConfigError


class EdgeAttributionPatching(Method):
    name = "edge_attribution_patching"
    report_tables = ("edges",)
    comparison_inputs = {"edges": "edges.parquet"}

    def configured_layers(self, instance, n_layer):
        return []

    def required_sites(self, instance, n_layer):
        """The clean prompts' activations at every source: the embedding, every head, every MLP."""
        per_block = [block_site(layer, hook) for layer in range(n_layer) for hook in ("attn.hook_z", "hook_mlp_out")]
        return [block_site(0, "hook_resid_pre"), *per_block]

    def check_text(self, instance, key, tokenized):
        """The text set holds prompt pairs of one token length with one-token answers."""
        from interpflow.stores import prompt_pairs

        text = instance["text"]
        path = tokenized.path(text)
        try:
            pairs = prompt_pairs.read_pairs(path, tokenized.config["texts"][text]["text_column"], instance)
            prompt_pairs.tokenize_pairs(pairs, tokenized.tokenizer, instance["answer_prefix"], path)
        except prompt_pairs.PairError as error:
            option = f"texts.{text}" if error.option == "text" else f"{key}.{error.option}"
            raise ConfigError(option, str(error)) from None

    def run_files(self, instance, n_layer):
        return ["edges.parquet", "pairs.parquet", *figure_files("circuit")]


METHOD = EdgeAttributionPatching()

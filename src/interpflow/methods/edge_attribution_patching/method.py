"""edge_attribution_patching's contract with the workflow: sites, pair checks, files."""

from __future__ import annotations

from interpflow.circuits.pair_checks import check_pair_text
from interpflow.methods.contract import Method, figure_files
from interpflow.models.sites import block_site


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
        check_pair_text(instance, key, tokenized, positions=False)

    def run_files(self, instance, n_layer):
        return ["edges.parquet", "pairs.parquet", *figure_files("circuit")]


METHOD = EdgeAttributionPatching()

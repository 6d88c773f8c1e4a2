"""activation_patching's contract with the workflow: sites, pair checks, files."""

from __future__ import annotations

from interpflow.circuits.pair_checks import check_pair_text
from interpflow.methods.contract import Method, figure_files
from interpflow.models.sites import block_site


class ActivationPatching(Method):
    name = "activation_patching"
    report_tables = ("patching",)
    comparison_inputs = {"patching": "patching.parquet"}

    def configured_layers(self, instance, n_layer):
        return []

    def required_sites(self, instance, n_layer):
        """The clean prompts' activations at every patched site of every block (the text set's store), and
        block 0's input, from which the clean run is rerun as a baseline."""
        patched = [block_site(layer, hook) for hook in instance["patch_sites"] for layer in range(n_layer)]
        return [block_site(0, "hook_resid_pre"), *patched]

    def check_text(self, instance, key, tokenized):
        """The text set holds prompt pairs of one token length, one-token answers, and the positions exist."""
        check_pair_text(instance, key, tokenized, positions=True)

    def run_files(self, instance, n_layer):
        return ["patching.parquet", "patching_by_pair.parquet", "pairs.parquet", *figure_files("patching")]


METHOD = ActivationPatching()

"""direct_logit_attribution's contract with the workflow: sites, pair checks, files."""

from __future__ import annotations

from interpflow.circuits.pair_checks import check_pair_text
from interpflow.methods.contract import Method, figure_files
from interpflow.models.sites import block_site

# What the stage reads of each clean prompt (interpflow.methods.direct_logit_attribution.attribution):
# block 0's input, every block's heads, updates and neurons, the last block's output.
PER_BLOCK_SITES = ("attn.hook_z", "hook_attn_out", "mlp.hook_post", "hook_mlp_out")


class DirectLogitAttribution(Method):
    name = "direct_logit_attribution"
    report_tables = ("attribution",)
    comparison_inputs = {"attribution": "attribution.parquet"}

    def configured_layers(self, instance, n_layer):
        return []

    def required_sites(self, instance, n_layer):
        """The clean prompts' activations that sum to the residual entering the final norm (Gemma 2's
        norm after the MLP needs the neurons even without neuron terms)."""
        sites = [block_site(0, "hook_resid_pre")]
        sites += [block_site(layer, hook) for layer in range(n_layer) for hook in PER_BLOCK_SITES]
        return [*sites, block_site(n_layer - 1, "hook_resid_post")]

    def check_text(self, instance, key, tokenized):
        """The text set holds prompt pairs of one token length with one-token answers."""
        check_pair_text(instance, key, tokenized, positions=False)

    def run_files(self, instance, n_layer):
        return ["attribution.parquet", "attribution_by_pair.parquet", "pairs.parquet", *figure_files("attribution")]


METHOD = DirectLogitAttribution()

"""subspace_removal's contract with the workflow: sites, layers, text checks, files."""

from __future__ import annotations

from interpflow.methods.contract import Method, figure_files
from interpflow.models.layers import resolve_layer
from interpflow.models.sites import block_site, residual_streams
from interpflow.runtime.errors import ConfigError

INTERVENTION_FIGURES = ["hidden_state_impact", "cosine_similarity", "logit_impact_stem", "logit_impact_text"]


def intervention_layer(instance: dict, n_layer: int) -> int:
    """The intervention layer of the figures (``middle`` is ``n_layer // 2``, as in the lecture)."""
    return resolve_layer(instance["intervention_layer"], n_layer)


def inspection_layer(instance: dict, n_layer: int) -> int:
    return resolve_layer(instance["inspection_layer"], n_layer)


def swept_layers(instance: dict, n_layer: int) -> list[int]:
    """Layers with an intervened run: every layer when ``sweep``, else the intervention layer."""
    return list(range(n_layer)) if instance["sweep"] else [intervention_layer(instance, n_layer)]


class SubspaceRemoval(Method):
    name = "subspace_removal"
    report_tables = ("layer_sweep",)
    comparison_inputs = {"layer_sweeps": "layer_sweep.parquet"}

    def configured_layers(self, instance, n_layer):
        return [(option, instance[option]) for option in ("inspection_layer", "intervention_layer")]

    def required_sites(self, instance, n_layer):
        layers = swept_layers(instance, n_layer)
        neurons = instance["neuron_site"]
        sites = residual_streams(n_layer)
        sites += [block_site(layer, "hook_attn_out") for layer in layers]
        sites += [block_site(layer, neurons) for layer in {*layers, inspection_layer(instance, n_layer)}]
        return sites

    def check_text(self, instance, key, tokenized):
        """One text of at least two tokens, and fewer removed components than tokens."""
        token_counts = [len(ids) for ids in tokenized.ids(instance["text"])]
        if len(token_counts) != 1:
            raise ConfigError(
                f"{key}.text", f"needs a text set of one text, '{instance['text']}' has {len(token_counts)}"
            )
        (n_tokens,) = token_counts
        if n_tokens < 2:
            raise ConfigError(f"{key}.text", f"'{instance['text']}' has {n_tokens} token; at least 2 are needed")
        if instance["n_components"] >= n_tokens:
            raise ConfigError(
                f"{key}.n_components",
                f"{instance['n_components']} must be below the number of tokens of '{instance['text']}' ({n_tokens})",
            )

    def run_files(self, instance, n_layer):
        tables = [
            "inspection_spectrum.parquet",
            "inspection.safetensors",
            "hidden_state_impact.parquet",
            "logit_impact.parquet",
            "layer_sweep.parquet",
            "cosine_similarity.safetensors",
        ]
        figures = ["activation_histogram", "inspection", *INTERVENTION_FIGURES]
        if instance["sweep"]:
            figures.append("layer_sweep")
        return tables + figure_files(*figures)


METHOD = SubspaceRemoval()

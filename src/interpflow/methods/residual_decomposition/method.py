"""residual_decomposition's contract with the workflow: sites, layers, files."""

from __future__ import annotations

from interpflow.methods.contract import Method, figure_files
from interpflow.models.layers import resolve_layer
from interpflow.models.sites import block_site, residual_stream


def figure_layer(instance: dict, n_layer: int) -> int:
    return resolve_layer(instance["layer"], n_layer)


def analysis_layers(instance: dict, n_layer: int) -> list[int]:
    """Layers to tabulate: every layer when ``all_layers``, else the figure layer."""
    return list(range(n_layer)) if instance["all_layers"] else [figure_layer(instance, n_layer)]


def layer_sites(layer: int, n_layer: int) -> list[str]:
    """Block ``layer``'s input, the next residual stream (the final norm's output after the last
    block), and the attention and MLP updates."""
    return [
        residual_stream(layer, n_layer),
        residual_stream(layer + 1, n_layer),
        block_site(layer, "hook_attn_out"),
        block_site(layer, "hook_mlp_out"),
    ]


class ResidualDecomposition(Method):
    name = "residual_decomposition"
    report_tables = ("correlations",)
    comparison_inputs = {"correlations": "correlations.parquet"}

    def configured_layers(self, instance, n_layer):
        return [("layer", instance["layer"])]

    def required_sites(self, instance, n_layer):
        return [site for layer in analysis_layers(instance, n_layer) for site in layer_sites(layer, n_layer)]

    def run_files(self, instance, n_layer):
        figures = ["decomposition", "layer_profile"] if instance["all_layers"] else ["decomposition"]
        return ["correlations.parquet", "comparison_values.parquet"] + figure_files(*figures)


METHOD = ResidualDecomposition()

"""sparse_autoencoder's contract with the workflow: the SAE's site, text checks, files."""

from __future__ import annotations

from interpflow.methods.contract import Method, figure_files
from interpflow.models.layers import resolve_layer
from interpflow.models.sites import block_site
from interpflow.runtime.errors import ConfigError
from interpflow.stores.word_categories import category_positions

FIGURES = ["loss_curves", "latent_activations", "latent_statistics"]
HEATMAPS = ["heatmap_activity", "heatmap_density", "heatmap_score"]


def sae_layer(instance: dict, n_layer: int) -> int:
    """The hooked layer; ``middle`` is ``n_layer // 2`` as in the lecture."""
    return resolve_layer(instance["layer"], n_layer)


class SparseAutoencoder(Method):
    name = "sparse_autoencoder"
    report_tables = ("latents",)
    comparison_inputs = {"training_logs": "training_log.parquet", "evaluations": "evaluation.parquet"}

    def sae_site(self, instance, n_layer):
        """The site the SAE is trained on: the MLP neurons (``neuron_site``) of :func:`sae_layer`."""
        return block_site(sae_layer(instance, n_layer), instance["neuron_site"])

    def configured_layers(self, instance, n_layer):
        return [("layer", instance["layer"])]

    def required_sites(self, instance, n_layer):
        return [self.sae_site(instance, n_layer)]

    def check_text(self, instance, key, tokenized):
        """The category scores something: at least one of its words occurs in the text set.

        Words that occur nowhere while others do are allowed (a category list may be generous); the
        score job logs how many tokens the category marked."""
        tokenizer = tokenized.tokenizer
        words = instance["category"]["words"]
        for ids in tokenized.ids(instance["text"]):
            if category_positions([tokenizer.decode([token]) for token in ids], words).any():
                return
        raise ConfigError(
            f"{key}.category.words",
            f"none of {words} occurs in text set '{instance['text']}' (as a whole word after a space), so no "
            "latent could be scored; name words the text holds, or run the instance on a text that holds them",
        )

    def run_files(self, instance, n_layer):
        files = ["sae.safetensors", "sae_config.json", "latents.safetensors", "training_log.parquet"]
        files += ["evaluation.parquet", "latents.parquet", "saelens"]
        files += [f"figures/{heatmap}.html" for heatmap in HEATMAPS]
        return files + figure_files(*FIGURES, *HEATMAPS)


METHOD = SparseAutoencoder()

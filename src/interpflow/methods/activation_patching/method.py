"""activation_patching's contract with the workflow: sites, pair checks, files."""

from __future__ import annotations

from interpflow.methods.contract import Method, figure_files
from interpflow.models.sites import block_site
from interpflow.runtime.errors import ConfigError


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
        from interpflow.stores import prompt_pairs

        text = instance["text"]
        entry = tokenized.config["texts"][text]
        path = tokenized.path(text)
        try:
            pairs = prompt_pairs.read_pairs(path, entry["text_column"], instance)
            tokens = prompt_pairs.tokenize_pairs(pairs, tokenized.tokenizer, instance["answer_prefix"], path)
            prompt_pairs.resolve_positions(instance["positions"], tokens.n_tokens)
        except prompt_pairs.PairError as error:
            option = f"texts.{text}" if error.option == "text" else f"{key}.{error.option}"
            raise ConfigError(option, str(error)) from None

    def run_files(self, instance, n_layer):
        return ["patching.parquet", "patching_by_pair.parquet", "pairs.parquet", *figure_files("patching")]


METHOD = ActivationPatching()

"""logit_lens's contract with the workflow: no stored sites (the lens runs the model), text checks, files."""

from __future__ import annotations

from interpflow.methods.contract import Method, figure_files
from interpflow.runtime.errors import ConfigError, leading_space_hint


class LogitLens(Method):
    name = "logit_lens"
    report_tables = ()
    comparison_inputs = {"lens": "lens.parquet"}

    def configured_layers(self, instance, n_layer):
        return []

    def required_sites(self, instance, n_layer):
        """None: the lens stage runs the model over the text itself, one text at a time, so that its last
        layer is the model's own logits bit for bit (:mod:`interpflow.methods.logit_lens.lens`)."""
        return []

    def check_text(self, instance, key, tokenized):
        """The figure's text exists, and the target (when given) is one token."""
        n_texts = len(tokenized.texts(instance["text"]))
        if instance["figure_text"] >= n_texts:
            raise ConfigError(
                f"{key}.figure_text",
                f"text {instance['figure_text']} does not exist: text set '{instance['text']}' has {n_texts} "
                f"(0..{n_texts - 1})",
            )
        target = instance["target"]
        if target is not None and len(tokenized.tokenizer.encode(target)) != 1:
            pieces = [tokenized.tokenizer.decode([i]) for i in tokenized.tokenizer.encode(target)]
            raise ConfigError(
                f"{key}.target", f"{target!r} is not a single token: {pieces}" + leading_space_hint(target)
            )

    def run_files(self, instance, n_layer):
        return ["lens.parquet", "top_tokens.parquet", *figure_files("top_tokens", "by_layer")]


METHOD = LogitLens()

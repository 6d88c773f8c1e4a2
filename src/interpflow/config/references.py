"""The checks a schema cannot express: text files exist and read, names resolve, layers exist in every model
an instance runs on, texts fit the models' context windows, and what each method needs of its text or corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interpflow.config.loading import instances
from interpflow.config.model_folders import check_model_folder, context_window, model_widths
from interpflow.models.layers import resolve_layer
from interpflow.registry import METHODS
from interpflow.runtime.errors import ConfigError

VENDORED_TOKENIZER = "resources/gpt2-tokenizer"


def check_references(config: dict[str, Any], base_dir: str | Path, checked_files: Path | None = None) -> None:
    """Check what the schema cannot: files read, names resolve, layers exist, texts suit the methods.

    ``checked_files``: a folder where each version of a corpus file read to its end is remembered,
    so that later start-ups skip it (:func:`interpflow.stores.corpus.check_files`)."""
    for name, entry in config["models"].items():
        if entry["source"] == "embedded" and entry["n_embd"] % entry["n_head"]:
            raise ConfigError(f"models.{name}.n_head", f"n_embd {entry['n_embd']} is not divisible by n_head")
        check_model_folder(config, name, Path(base_dir))
    tokenized = TokenizedTexts(config, Path(base_dir))
    for text_name in config["texts"]:
        tokenized.text_set(text_name)  # every file exists, decodes and has the columns, no text is empty
    for method_name, method in METHODS.items():
        for instance_name, instance in instances(config, method_name).items():
            key = f"{method_name}.{instance_name}"
            for i, model in enumerate(instance["models"]):
                if model not in config["models"]:
                    known = ", ".join(sorted(config["models"]))
                    raise ConfigError(f"{key}.models[{i}]", f"unknown model '{model}' (known: {known})")
            for model in instance["models"]:
                n_layer = config["models"][model]["n_layer"]
                for option, layer in method.configured_layers(instance, n_layer):
                    check_layer(layer, n_layer, f"{key}.{option}", model)
                sae_site = method.sae_site(instance, n_layer)
                if sae_site is not None and not instance.get("pretrained"):
                    check_sae_width(config, model, sae_site, instance["sae"], key, base_dir)
            if method.input_kind == "corpus":
                check_corpus_instance(config, method, instance, key, Path(base_dir))
                continue
            if instance["text"] not in config["texts"]:
                known = ", ".join(sorted(config["texts"]))
                raise ConfigError(f"{key}.text", f"unknown text set '{instance['text']}' (known: {known})")
            for model in instance["models"]:
                check_context_window(config, model, instance["text"], f"{key}.text", tokenized)
            method.check_text(instance, key, tokenized)
    for name, entry in config.get("corpora", {}).items():
        check_corpus_entry(name, entry, Path(base_dir), tokenized.tokenizer, checked_files)


def check_layer(value: int | str, n_layer: int, key: str, model: str) -> None:
    """Raise :class:`ConfigError` unless the layer (an index or ``middle``) exists in the model."""
    layer = resolve_layer(value, n_layer)
    if not 0 <= layer < n_layer:
        raise ConfigError(
            key,
            f"layer {layer} is out of range for model '{model}': its layers are 0..{n_layer - 1}, "
            f"or 'middle' (= {n_layer // 2})",
        )


def check_corpus_entry(name: str, entry: dict[str, Any], base_dir: Path, tokenizer, checked: Path | None) -> None:
    """The corpus's files exist, read to their ends, and give at least one window per shard."""
    from interpflow.stores.corpus import Corpus, CorpusError, check_corpus

    try:
        check_corpus(Corpus.from_config(name, entry, base_dir), tokenizer, checked)
    except CorpusError as error:
        raise ConfigError(f"corpora.{name}.{error.option}", str(error)) from None


def check_corpus_instance(config: dict[str, Any], method, instance: dict[str, Any], key: str, base_dir: Path) -> None:
    """An instance on a corpus: the corpus exists, its windows fit each model, the method's own checks."""
    corpora = config.get("corpora", {})
    if instance["corpus"] not in corpora:
        known = ", ".join(sorted(corpora)) or "none configured"
        raise ConfigError(
            f"{key}.corpus", f"unknown corpus '{instance['corpus']}' (known: {known}); add it under corpora"
        )
    corpus = corpora[instance["corpus"]]
    for model in instance["models"]:
        limit = context_window(config, model, base_dir)
        if limit is not None and corpus["context_size"] > limit:
            raise ConfigError(
                f"corpora.{instance['corpus']}.context_size",
                f"{corpus['context_size']} tokens per window, more than the {limit} that model '{model}' "
                f"(used by {key}) reads at once; lower context_size",
            )
    method.check_corpus(instance, key, corpus)


def check_sae_width(config: dict[str, Any], model: str, site: str, sae: dict[str, Any], key: str, base_dir) -> None:
    """An SAE's ``k`` is at most its latents (``latent_factor`` times the width of the ``site`` it reads)."""
    from interpflow.models.dimensions import site_width

    widths = model_widths(config, model, base_dir)
    if widths is None or sae.get("k") is None:
        return
    width = site_width(widths, site)
    latents = sae["latent_factor"] * width
    if sae["k"] > latents:
        raise ConfigError(
            f"{key}.sae.k",
            f"{sae['k']} active latents per token, more than the SAE's {latents} latents (latent_factor "
            f"{sae['latent_factor']} x {width}, the width of {site} on model '{model}'); lower k to at most "
            f"{latents} or raise latent_factor",
        )


def check_context_window(config: dict[str, Any], model: str, text_name: str, key: str, tokenized) -> None:
    """Every text of the text set fits the model's context window (one text is one sequence)."""
    limit = context_window(config, model, tokenized.base_dir)
    if limit is None:
        return
    for row, ids in enumerate(tokenized.ids(text_name)):
        if len(ids) > limit:
            where = "its text" if len(tokenized.ids(text_name)) == 1 else f"row {row}"
            raise ConfigError(
                key,
                f"text set '{text_name}' ({tokenized.path(text_name)}): {where} has {len(ids)} tokens, more than "
                f"the {limit} that model '{model}' reads at once (n_positions); shorten or split the text, "
                "or run the instance on a model with a longer context",
            )


class TokenizedTexts:
    """The configured text sets, read once, and their tokens through the vendored GPT-2 tokenizer."""

    def __init__(self, config: dict[str, Any], base_dir: Path):
        self.config, self.base_dir, self._tokenizer, self._sets, self._ids = config, base_dir, None, {}, {}

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from interpflow.models.vendored_tokenizer import VendoredTokenizer

            self._tokenizer = VendoredTokenizer(self.base_dir / VENDORED_TOKENIZER)
        return self._tokenizer

    def path(self, text_name: str) -> Path:
        return self.base_dir / self.config["texts"][text_name]["path"]

    def text_set(self, text_name: str):
        """The :class:`interpflow.stores.texts.TextSet` of a configured text set; ConfigError if it does not read."""
        if text_name not in self._sets:
            from interpflow.stores.texts import TextSetError, read_text_set

            entry = self.config["texts"][text_name]
            try:
                self._sets[text_name] = read_text_set(self.path(text_name), entry["text_column"], entry["group_column"])
            except TextSetError as error:
                raise ConfigError(f"texts.{text_name}.{error.option}", str(error)) from None
        return self._sets[text_name]

    def texts(self, text_name: str) -> list[str]:
        return self.text_set(text_name).texts

    def ids(self, text_name: str) -> list[list[int]]:
        """Token ids of every text of a text set."""
        if text_name not in self._ids:
            self._ids[text_name] = self.tokenizer(self.texts(text_name))["input_ids"]
        return self._ids[text_name]

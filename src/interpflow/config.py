"""Validate a workflow configuration before any job is scheduled.

Two passes, both raising :class:`ConfigError` with one message that names the offending key:

1. the JSON schema (``schemas/config.schema.yaml``): types, required and unknown keys;
2. checks a schema cannot express: text files exist, analyses name known models and texts,
   and every configured layer exists in every model the analysis runs on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from interpflow.errors import ConfigError
from interpflow.registry import ANALYSES

VENDORED_TOKENIZER = "resources/gpt2-tokenizer"

__all__ = ["ConfigError", "validate_config"]


def load_schema(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _dotted(path) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def check_schema(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for the most relevant schema violation, if any."""
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    if error.validator == "additionalProperties" and not error.path:
        unknown = sorted(set(config) - set(schema.get("properties", {})))
        raise ConfigError(_dotted(unknown[:1]), "unknown key; see README.md, section Configuration")
    if error.validator == "additionalProperties":
        raise ConfigError(_dotted(error.path), f"{error.message}; see README.md, section Configuration")
    raise ConfigError(_dotted(error.absolute_path), error.message)


def check_layer(layer: int, n_layer: int, key: str, model: str) -> None:
    """Raise :class:`ConfigError` unless ``0 <= layer < n_layer``."""
    if not 0 <= layer < n_layer:
        raise ConfigError(key, f"layer {layer} is out of range for model '{model}' (layers 0..{n_layer - 1})")


def check_references(config: dict[str, Any], base_dir: str | Path) -> None:
    """Check what the schema cannot: files exist, names resolve, layers exist."""
    base = Path(base_dir)
    for name, entry in config["texts"].items():
        path = base / entry["path"]
        if not path.is_file():
            raise ConfigError(f"texts.{name}.path", f"file {str(path)!r} does not exist")
        if path.suffix == ".tsv" and "column" not in entry:
            raise ConfigError(f"texts.{name}.column", "a .tsv text set needs the column that holds the texts")
        if path.suffix not in (".txt", ".tsv"):
            raise ConfigError(f"texts.{name}.path", "expected a .txt (one text) or .tsv (one text per row) file")
    for name, entry in config["models"].items():
        if entry["source"] == "embedded" and entry["n_embd"] % entry["n_head"]:
            raise ConfigError(f"models.{name}.n_head", f"n_embd {entry['n_embd']} is not divisible by n_head")
    tokenized = TokenizedTexts(config, base)
    for section_name, analysis in ANALYSES.items():
        section = config[section_name]
        for i, model in enumerate(section["models"]):
            if model not in config["models"]:
                known = ", ".join(sorted(config["models"]))
                raise ConfigError(f"{section_name}.models[{i}]", f"unknown model '{model}' (known: {known})")
        if section["text"] not in config["texts"]:
            known = ", ".join(sorted(config["texts"]))
            raise ConfigError(f"{section_name}.text", f"unknown text set '{section['text']}' (known: {known})")
        for model in section["models"]:
            n_layer = config["models"][model]["n_layer"]
            for key, layer in analysis.configured_layers(section, n_layer):
                check_layer(layer, n_layer, f"{section_name}.{key}", model)
        if hasattr(analysis, "check_text"):
            analysis.check_text(section, section_name, tokenized)


class TokenizedTexts:
    """The configured text sets through the vendored GPT-2 tokenizer (loaded on first use)."""

    def __init__(self, config: dict[str, Any], base_dir: Path):
        self.config, self.base_dir, self._tokenizer, self._ids = config, base_dir, None, {}

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from interpflow.vendored_tokenizer import VendoredTokenizer

            self._tokenizer = VendoredTokenizer(self.base_dir / VENDORED_TOKENIZER)
        return self._tokenizer

    def path(self, text_name: str) -> Path:
        return self.base_dir / self.config["texts"][text_name]["path"]

    def texts(self, text_name: str) -> list[str]:
        from interpflow.texts import read_text_set

        return read_text_set(self.path(text_name), self.config["texts"][text_name].get("column"))

    def ids(self, text_name: str) -> list[list[int]]:
        """Token ids of every text of a text set."""
        if text_name not in self._ids:
            self._ids[text_name] = self.tokenizer(self.texts(text_name))["input_ids"]
        return self._ids[text_name]


def validate_config(config: dict[str, Any], schema_path: str | Path, base_dir: str | Path) -> None:
    """Validate ``config``; raise :class:`ConfigError` naming the first problem found."""
    check_schema(config, load_schema(schema_path))
    check_references(config, base_dir)

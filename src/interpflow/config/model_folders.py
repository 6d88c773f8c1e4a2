"""What a configured model's folder says, where it is at hand (a local model, a hub model provisioned or in
the Hugging Face cache), read without torch: its ``config.json``, family, depth, widths and context window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interpflow.runtime.errors import ConfigError


def model_config_json(config: dict[str, Any], model: str, base_dir: Path) -> dict[str, Any] | None:
    """The ``config.json`` of the model a run would load, where it is at hand: a local model's folder; for a
    hub model, its provisioned folder if provisioned at the configured revision, else the Hugging Face
    cache's copy at that revision (what provisioning would copy); ``None`` where neither is at hand."""
    from interpflow.runtime.model_records import model_source_folder

    entry = config["models"][model]
    folder = model_source_folder(config, model)
    folder = folder if folder.is_absolute() else base_dir / folder
    path: str | Path | None = folder / "config.json"
    if entry["source"] == "hub" and provisioned_revision(folder) != entry.get("revision"):
        from interpflow.models.hub_cache import cached_file

        path = cached_file(entry["hub_id"], "config.json", entry.get("revision"))
    return json.loads(Path(path).read_text(encoding="utf-8")) if path and Path(path).is_file() else None


def provisioned_revision(folder: Path) -> str | None | bool:
    """The revision a hub model folder was provisioned at (``None``: the default branch); ``False`` if it was not."""
    from interpflow.runtime.model_records import MODEL_RECORD

    record = folder / MODEL_RECORD
    return json.loads(record.read_text(encoding="utf-8")).get("revision") if record.is_file() else False


def check_model_folder(config: dict[str, Any], model: str, base_dir: Path) -> None:
    """A local model's folder exists and holds a model; a model folder at hand (local, or a hub model
    already provisioned) is of a family with an adapter (:mod:`interpflow.models.families`) and has the
    configured ``n_layer``."""
    from interpflow.models.families import FAMILY_OF_MODEL_TYPE, supported_model_types
    from interpflow.runtime.model_records import model_source_folder

    entry = config["models"][model]
    key = f"models.{model}." + ("path" if entry["source"] == "local" else "hub_id")
    if entry["source"] == "local":
        folder = model_source_folder(config, model)
        folder = folder if folder.is_absolute() else base_dir / folder
        if not folder.is_dir():
            raise ConfigError(key, f"{entry['path']!r} does not exist (or is not a folder); point it at a model folder")
        missing = [
            what
            for what, pattern in (("config.json", "config.json"), ("safetensors weights", "*.safetensors"))
            if not any(folder.glob(pattern))
        ]
        if missing:
            raise ConfigError(
                key,
                f"{entry['path']!r} is not a model folder: it has no {' and no '.join(missing)}; point it at a folder "
                "that save_pretrained(..., safe_serialization=True) wrote (config.json, *.safetensors, tokenizer)",
            )
    values = model_config_json(config, model, base_dir)
    if values is None:
        return
    if values.get("model_type") not in FAMILY_OF_MODEL_TYPE:
        raise ConfigError(
            key,
            f"model_type {values.get('model_type')!r} has no adapter (supported: {supported_model_types()}); "
            "use a decoder-only model of a supported family",
        )
    blocks = values.get("n_layer", values.get("num_hidden_layers"))
    if blocks is not None and blocks != entry["n_layer"]:
        raise ConfigError(
            f"models.{model}.n_layer",
            f"{entry['n_layer']}, but the model's config.json says {blocks} blocks; set n_layer: {blocks}",
        )


def model_widths(config: dict[str, Any], model: str, base_dir: str | Path) -> tuple[int, int] | None:
    """``(d_model, d_mlp)`` of a model: from an embedded model's spec, else from its folder's
    ``config.json`` where there is one; ``None`` where neither is at hand (a hub model not yet provisioned)."""
    entry = config["models"][model]
    if entry["source"] == "embedded":
        gated = entry.get("architecture") in ("llama", "gemma2")  # the families whose d_mlp is configurable
        return entry["n_embd"], (gated and entry.get("d_mlp")) or 4 * entry["n_embd"]
    from interpflow.models.dimensions import model_widths as widths_of

    values = model_config_json(config, model, Path(base_dir))
    return None if values is None else widths_of(values)


def context_window(config: dict[str, Any], model: str, base_dir: Path) -> int | None:
    """The model's context window in tokens: ``n_positions`` from the config, else from the model
    folder's ``config.json`` where there is one (a local model, a hub model already provisioned)."""
    if "n_positions" in config["models"][model]:
        return config["models"][model]["n_positions"]
    values = model_config_json(config, model, base_dir)
    if values is None:
        return None
    return values.get("n_positions") or values.get("max_position_embeddings")

"""Model records: where a model folder came from and the sha256 of its files (no torch needed).

Every model folder the workflow makes holds ``interpflow_model.json``; results record the model's
identity from it (:mod:`interpflow.runtime.provenance`), and ``verify`` hashes the folder anew to compare.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from interpflow.runtime.atomic_io import write_text

MODEL_RECORD = "interpflow_model.json"


def model_source_folder(config: dict[str, Any], model: str) -> Path:
    """The folder a configured model's weights come from, as provisioned or built: its own ``path``
    (local), else ``<model_dir>/<source>/<name>``."""
    entry = config["models"][model]
    return Path(entry["path"]) if entry["source"] == "local" else Path(config["model_dir"]) / entry["source"] / model


def model_folder(config: dict[str, Any], model: str) -> Path:
    """The folder a configured model is loaded from: its source folder for ``dtype: float32``, else
    ``<model_dir>/<dtype>/<name>``, where the workflow stores its weights once in that dtype."""
    dtype = config["models"][model].get("dtype", "float32")
    return model_source_folder(config, model) if dtype == "float32" else Path(config["model_dir"]) / dtype / model


def sha256_of_file(path: str | Path, chunk_bytes: int = 1 << 24) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(folder: str | Path) -> dict[str, str]:
    """``file name -> sha256`` of every file in a model folder but the record itself, sorted."""
    return {
        path.name: sha256_of_file(path)
        for path in sorted(Path(folder).iterdir())
        if path.is_file() and path.name != MODEL_RECORD
    }


def weights_sha256(files: dict[str, str]) -> str:
    """One hash for a model's weights: sha256 over the sorted ``name:sha256`` of its safetensors files."""
    lines = [f"{name}:{digest}\n" for name, digest in sorted(files.items()) if name.endswith(".safetensors")]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def write_model_record(folder: Path, record: dict[str, Any]) -> None:
    """Write ``interpflow_model.json``: the model's identity and the sha256 of every file in ``folder``."""
    files = file_hashes(folder)
    record = {**record, "weights_sha256": weights_sha256(files), "files": files}
    write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", folder / MODEL_RECORD)


def read_model_record(folder: str | Path) -> dict[str, Any]:
    """The record of a model folder; for a folder the workflow did not make (a local model), computed now."""
    path = Path(folder) / MODEL_RECORD
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    files = file_hashes(folder)
    return {"source": "local", "path": str(folder), "weights_sha256": weights_sha256(files), "files": files}

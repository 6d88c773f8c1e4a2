"""Random-weight GPT-2 models of the real shapes, built once into a cache folder.

Compute and memory cost do not depend on the weight values, so these stand in for the real
models in benchmarks (no model hub needed). Weights are seeded: every build is identical.
"""

from __future__ import annotations

from pathlib import Path

from interpflow.models import build_embedded_model

SHAPES = {
    "gpt2": {"n_layer": 12, "n_embd": 768, "n_head": 12},
    "gpt2-medium": {"n_layer": 24, "n_embd": 1024, "n_head": 16},
    "gpt2-xl": {"n_layer": 48, "n_embd": 1600, "n_head": 25},
}
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "out" / "models"


def random_model(shape: str, cache: Path = CACHE) -> Path:
    """Folder of a random-weight model with the shape of ``shape``; built on first use."""
    folder = cache / f"{shape}-random"
    if not (folder / "model.safetensors").is_file():
        spec = {**SHAPES[shape], "n_positions": 1024, "seed": 0}
        build_embedded_model(spec, ROOT / "resources" / "gpt2-tokenizer", folder)
    return folder

"""Random-weight models of real shapes (GPT-2 and Llama-family), built once into a cache folder.

Compute and memory cost do not depend on the weight values, so these stand in for the real
models in benchmarks (no model hub needed). Weights are seeded: every build is identical.
"""

from __future__ import annotations

from pathlib import Path

from interpflow.models.loading import build_embedded_model

SHAPES = {
    "gpt2": {"n_layer": 12, "n_embd": 768, "n_head": 12},
    "gpt2-medium": {"n_layer": 24, "n_embd": 1024, "n_head": 16},
    "gpt2-xl": {"n_layer": 48, "n_embd": 1600, "n_head": 25},
    # Llama-3.2-1B's blocks (16 x 2048, 32 query and 8 key-value heads, gated MLP 8192 wide); the
    # vocabulary is the vendored GPT-2 one (50257 rather than 128256), so the unembedding costs less.
    "llama-3.2-1b": {
        "architecture": "llama",
        "n_layer": 16,
        "n_embd": 2048,
        "n_head": 32,
        "n_kv_head": 8,
        "d_mlp": 8192,
    },
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

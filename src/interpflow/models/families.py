"""The architecture families that have an adapter, by Hugging Face ``config.model_type``; no torch.

The config check before any job reads a model folder's family here, so that ``snakemake -n`` does not
import torch (a second of every start-up). The adapters (:mod:`interpflow.models.architectures`) take
their ``model_types`` from this table: a family added there is added here.
"""

from __future__ import annotations

# family -> the config.model_type values its adapter covers
MODEL_TYPES: dict[str, tuple[str, ...]] = {
    "gpt2": ("gpt2",),
    "gpt_neox": ("gpt_neox",),
    "llama": ("llama", "mistral", "qwen2"),
    "gemma2": ("gemma2",),
}
FAMILY_OF_MODEL_TYPE: dict[str, str] = {
    model_type: family for family, model_types in MODEL_TYPES.items() for model_type in model_types
}


def supported_model_types() -> str:
    """The covered ``model_type`` values, sorted, for messages."""
    return ", ".join(sorted(FAMILY_OF_MODEL_TYPE))

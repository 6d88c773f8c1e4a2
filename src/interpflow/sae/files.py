"""The SAE save format of both SAE methods: a folder holding ``sae.safetensors`` and ``sae_config.json``.

- ``sae.safetensors``: the model's parameters under their names (float32): ``W_enc``
  ``(latents, input)`` for ``tied_ksparse`` (the decoder is the same matrix); ``W_enc``, ``b_enc``,
  ``W_dec`` ``(latents, input)`` and ``b_pre`` for ``topk``.
- ``sae_config.json``: ``sae``, the :class:`~interpflow.sae.core.config.SAEConfig`; ``training``, how the
  tokens reached the trainer (``{"epochs": ..., "dtype": ...}`` full batch, or the streaming schedule)
  and the dtype of its products (``float32``, or ``bfloat16`` under autocast with float32 weights);
  and what the run was (``instance``, ``model``).

A pretrained SAE imported into a run (:mod:`interpflow.sae.interop.pretrained`) is saved the same way:
``W_enc``, ``b_enc``, ``W_dec``, ``b_dec`` (and ``threshold``) in ``sae.safetensors``; in ``sae_config.json``,
``sae`` is its :class:`~interpflow.sae.interop.pretrained_formats.PretrainedSAEConfig`, ``training`` is ``null``
and ``pretrained`` says where it came from (its config entry, the sha256 of its files, what its own config file says).

A writer to another format (SAELens's folder) reads these two files and nothing else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from interpflow.runtime.atomic_io import write_safetensors, write_text
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.variants import build_model
from interpflow.sae.interop import pretrained
from interpflow.sae.interop.pretrained_formats import PretrainedSAEConfig

WEIGHTS_FILE = "sae.safetensors"
CONFIG_FILE = "sae_config.json"


def save_sae(
    sae: nn.Module,
    config: SAEConfig,
    weights_path: str | os.PathLike,
    config_path: str | os.PathLike,
    training: dict | None,
    **run,
) -> None:
    """Write the two files atomically; ``run`` (e.g. ``instance``, ``model``; ``pretrained``) goes into the
    config file."""
    tensors = {name: value.detach().cpu().numpy() for name, value in sae.state_dict().items()}
    write_safetensors(tensors, weights_path)
    record = {"sae": config.to_dict(), "training": training, **run}
    write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", config_path)


def read_sae_config(config_path: str | os.PathLike) -> tuple[SAEConfig | PretrainedSAEConfig, dict]:
    """The config (:class:`SAEConfig`, or :class:`PretrainedSAEConfig` for an imported SAE) and the whole
    record of a ``sae_config.json``."""
    record = json.loads(Path(config_path).read_text(encoding="utf-8"))
    kind = PretrainedSAEConfig if record.get("pretrained") else SAEConfig
    return kind.from_dict(record["sae"]), record


def load_sae(
    weights_path: str | os.PathLike, config_path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, SAEConfig | PretrainedSAEConfig]:
    """The saved SAE (eval mode, on ``device``) and its config; ``config_path`` defaults to the
    ``sae_config.json`` beside the weights."""
    config_path = config_path or Path(weights_path).with_name(CONFIG_FILE)
    config, _ = read_sae_config(config_path)
    model = pretrained.build(config) if isinstance(config, PretrainedSAEConfig) else build_model(config)
    model.load_state_dict(load_file(str(weights_path)))
    return model.to(device).eval(), config

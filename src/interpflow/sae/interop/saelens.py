"""An interpflow SAE as a SAELens folder, the format the field's tools read (SAELens, SAEBench,
SAEDashboard/Neuronpedia, delphi).

The folder holds:

- ``cfg.json``: ``architecture`` (``topk`` for the topk and tied variants: the tied SAE is a TopK SAE
  whose decoder is its encoder's transpose and whose biases are zero; ``jumprelu`` for batchtopk, whose
  threshold is every latent's, as SAELens saves its own BatchTopK SAEs for inference), ``d_in``, ``d_sae``, ``k``,
  ``dtype``, ``device``, ``apply_b_dec_to_input``, ``normalize_activations``, and ``metadata``:
  ``model_name``, ``hook_name`` (the interpflow site, a TransformerLens hook name), ``hf_hook_name``
  (the Hugging Face module whose output the site is, where one is),
  ``context_size``, ``prepend_bos``, ``dataset_path``, ``model_from_pretrained_kwargs`` (how the
  activations were taken: the model as its weights are, nothing centred or folded),
  ``sae_lens_version`` (the release whose format this follows) and ``interpflow`` (the SAE's
  config, its training and the training stage's provenance record);
- ``sae_weights.safetensors``: ``W_enc`` ``(d_in, d_sae)``, ``b_enc`` ``(d_sae,)``, ``W_dec``
  ``(d_sae, d_in)``, ``b_dec`` ``(d_in,)``, float32;
- ``sparsity.safetensors``: ``sparsity`` ``(d_sae,)``, log10 of each latent's firing frequency
  (``density`` of ``latents.parquet``) plus 1e-10, as SAELens logs it.

SAELens encodes ``topk(relu-free pre-activations)`` and then applies ReLU to the kept values;
interpflow applies ReLU first. Both give the same latents (a kept non-positive value is 0 either
way), except where values tie at the k-th largest: the tied variant keeps every tie, SAELens
exactly ``k`` (ties have probability zero for real activations).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from interpflow.runtime.atomic_io import atomic_directory, write_safetensors
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.peers import SAELENS_VERSION
from interpflow.sae.interop.pretrained_formats import PretrainedSAEConfig

# The sae-lens release whose folder layout this writer follows; tests/unit/test_saelens_export.py
# loads each export with it.
SAELENS_FORMAT_VERSION = SAELENS_VERSION
# TransformerLens's from_pretrained arguments under which its hooks see what interpflow's sites see:
# no centring, no folding (TransformerLens's from_pretrained_no_processing).
UNPROCESSED = {
    "center_writing_weights": False,
    "center_unembed": False,
    "fold_ln": False,
    "fold_value_biases": False,
    "refactor_factored_attn_matrices": False,
}
LOG_FLOOR = 1e-10


def saelens_weights(sae: nn.Module, config: SAEConfig | PretrainedSAEConfig) -> dict[str, np.ndarray]:
    """``W_enc`` ``(d_in, d_sae)``, ``b_enc``, ``W_dec`` ``(d_sae, d_in)``, ``b_dec`` (and a jumprelu SAE's
    ``threshold``) of ``sae``."""
    state = {name: value.detach().cpu().float() for name, value in sae.state_dict().items()}
    zeros = torch.zeros
    tensors = {
        "W_enc": state["W_enc"].T,
        "b_enc": state.get("b_enc", zeros(config.latent_dim)),
        "W_dec": state.get("W_dec", state["W_enc"]),
        "b_dec": state.get("b_dec", state.get("b_pre", zeros(config.input_dim))),
    }
    if "threshold" in state:  # a jumprelu SAE's per latent; a batchtopk SAE's one for all
        tensors["threshold"] = state["threshold"].expand(config.latent_dim)
    return {name: np.ascontiguousarray(value.numpy()) for name, value in tensors.items()}


def saelens_config(config: SAEConfig | PretrainedSAEConfig, record: dict, **metadata) -> dict:
    """``cfg.json`` of the SAE ``config``; ``record`` is its ``sae_config.json``, ``metadata`` what the
    run knows about the model and the activations (``model_name``, ``hf_hook_name``, ``context_size``,
    ``prepend_bos``, ``dataset_path``). A pretrained SAE keeps its own architecture and input options, and
    what its files said about its activations."""
    architecture = {
        "architecture": "topk",
        "k": config.k,
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "rescale_acts_by_decoder_norm": False,
    }
    if getattr(config, "variant", None) == "batchtopk":  # outside training, a threshold: SAELens's jumprelu
        architecture = {"architecture": "jumprelu", "apply_b_dec_to_input": True, "normalize_activations": "none"}
    kwargs = UNPROCESSED
    if isinstance(config, PretrainedSAEConfig):
        source = record["pretrained"]
        architecture = {
            "architecture": config.architecture,
            **({"k": config.k} if config.architecture == "topk" else {}),
            "apply_b_dec_to_input": config.apply_b_dec_to_input,
            "normalize_activations": config.normalize_activations,
            **({"rescale_acts_by_decoder_norm": config.rescale_acts_by_decoder_norm} if config.k else {}),
        }
        kwargs = source["model_from_pretrained_kwargs"]
        known = ("context_size", "prepend_bos", "dataset_path")
        metadata |= {key: source[key] for key in known if source.get(key) is not None}
    return {
        **architecture,
        "d_in": config.input_dim,
        "d_sae": config.latent_dim,
        "dtype": "float32",
        "device": "cpu",
        "reshape_activations": "none",
        "metadata": {
            "hook_name": config.site,
            "model_from_pretrained_kwargs": kwargs,
            "sae_lens_version": SAELENS_FORMAT_VERSION,
            "sae_lens_training_version": None,
            **metadata,
            "interpflow": record,
        },
    }


def write_saelens_folder(
    folder: str | os.PathLike,
    sae: nn.Module,
    config: SAEConfig | PretrainedSAEConfig,
    record: dict,
    density: np.ndarray,
    **metadata,
) -> None:
    """Write the folder of the module docstring atomically (it replaces ``folder`` as a whole)."""
    sparsity = np.log10(np.asarray(density, dtype=np.float64) + LOG_FLOOR).astype(np.float32)
    with atomic_directory(folder) as tmp:
        tmp = Path(tmp)
        cfg = saelens_config(config, record, **metadata)
        (tmp / "cfg.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        write_safetensors(saelens_weights(sae, config), tmp / "sae_weights.safetensors")
        write_safetensors({"sparsity": sparsity}, tmp / "sparsity.safetensors")

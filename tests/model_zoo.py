"""Tiny models of every supported family for the tests: as the workflow builds them, and perturbed.

The embedded models have norm weight 1, norm bias 0, zero linear biases and std-0.02 weights, which
hide bugs in norm handling, biases, soft-capping and attention scaling (their attention is nearly
uniform). :func:`perturb` gives every norm a random weight and bias, every bias a random value and
every matrix a scale at which attention is far from uniform; Gemma 2's soft-caps are set low enough
to bite.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForCausalLM, MistralConfig, Qwen2Config

from interpflow.models.architectures import FAMILIES, Llama
from interpflow.models.loading import vendored_tokenizer
from tests.conftest import TOKENIZER_DIR

# Variants of the families: Mistral and Qwen2 run through the Llama adapter, and GPT-NeoX also
# comes with a sequential residual (use_parallel_residual: false).
VARIANTS = ("gpt2", "gpt_neox", "gpt_neox_sequential", "llama", "mistral", "qwen2", "gemma2")
SPEC = {"n_layer": 3, "n_embd": 32, "n_head": 4, "n_positions": 64, "seed": 11}


def variant_config(variant: str, spec: dict | None = None):
    """The Hugging Face config of a tiny model of ``variant`` (one of :data:`VARIANTS`)."""
    spec = SPEC | (spec or {})
    tokenizer = vendored_tokenizer(TOKENIZER_DIR)
    vocab, eos = len(tokenizer), tokenizer.eos_token_id
    if variant in ("mistral", "qwen2"):
        values = Llama().decoder_config_values(spec, vocab, eos)
        return MistralConfig(**values) if variant == "mistral" else Qwen2Config(**values, tie_word_embeddings=True)
    if variant == "gpt_neox_sequential":
        config = FAMILIES["gpt_neox"].embedded_config(spec, vocab, eos)
        config.use_parallel_residual = False
        return config
    config = FAMILIES[variant].embedded_config(spec | {"sliding_window": 6}, vocab, eos)
    if variant == "gpt2":
        config.n_ctx = config.n_positions  # as in GPT-2's own config.json; TransformerLens reads it
    if variant == "gemma2":  # a query scale other than 1/sqrt(d_head), and soft-caps that bite
        config.query_pre_attn_scalar = 2 * config.head_dim
        config.attn_logit_softcapping, config.final_logit_softcapping = 2.0, 3.0
    return config


def is_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith("RMSNorm")


@torch.no_grad()
def perturb(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random norm weights and biases, random biases everywhere, matrices at std 1/sqrt(fan-in)."""
    generator = torch.Generator().manual_seed(seed)

    def noise(param, scale):
        return scale * torch.randn(param.shape, generator=generator)

    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if is_norm(module):
                param.add_(noise(param, 0.5 if name == "weight" else 0.2))
            elif name == "bias":
                param.copy_(noise(param, 0.2))
            elif isinstance(module, nn.Embedding):
                param.copy_(noise(param, 0.5))
            elif param.ndim == 2:
                fan_in = param.shape[0] if type(module).__name__ == "Conv1D" else param.shape[1]
                param.copy_(noise(param, fan_in**-0.5))
    return model


def tiny_model(variant: str, perturbed: bool, folder: Path | None = None, spec: dict | None = None) -> nn.Module:
    """A tiny model of ``variant`` in eval mode, seeded; saved to ``folder`` when given."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SPEC["seed"])
        model = AutoModelForCausalLM.from_config(variant_config(variant, spec))
    if perturbed:
        perturb(model)
    model.eval()
    if folder is not None:
        model.save_pretrained(folder)
    return model

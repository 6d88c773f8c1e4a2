"""Pretrained SAE folders for the tests, made by the libraries that define their formats: SAELens's own SAE
classes (random weights, one per architecture and input option) and sparsify's ``SparseCoder``.

Each builder returns the library's module (the reference the tests compare interpflow against) after
saving it where asked; biases and thresholds are random too, so that a bias applied in the wrong place
shows.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

CENTRED = {"center_writing_weights": True, "fold_ln": True}


def _randomize(module: torch.nn.Module, seed: int, scale: float = 0.3) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, parameter in sorted(module.named_parameters()):
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)


def _metadata(site: str, model_name: str, kwargs: dict | None, prepend_bos: bool = True):
    from sae_lens.saes.sae import SAEMetadata

    values = {"hook_name": site, "model_name": model_name, "prepend_bos": prepend_bos, "context_size": 32}
    if kwargs is not None:
        values["model_from_pretrained_kwargs"] = kwargs
    return SAEMetadata(**values)


def saelens_sae(
    folder: Path,
    architecture: str,
    site: str,
    d_in: int,
    d_sae: int,
    *,
    model_name: str = "embedded",
    kwargs: dict | None = CENTRED,
    seed: int = 0,
    **options,
):
    """A SAELens SAE of ``architecture`` (``standard``, ``topk``, ``jumprelu``, or ``batchtopk``, saved as
    SAELens saves it for inference) with random weights, saved in ``folder``; ``options`` go to its config
    (``k``, ``normalize_activations``, ``apply_b_dec_to_input``, ``rescale_acts_by_decoder_norm``)."""
    import sae_lens
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig

    classes = {
        "standard": (sae_lens.StandardSAE, sae_lens.StandardSAEConfig),
        "topk": (sae_lens.TopKSAE, sae_lens.TopKSAEConfig),
        "jumprelu": (sae_lens.JumpReLUSAE, sae_lens.JumpReLUSAEConfig),
        "batchtopk": (BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig),
    }
    sae_class, config_class = classes[architecture]
    config = config_class(d_in=d_in, d_sae=d_sae, metadata=_metadata(site, model_name, kwargs), **options)
    sae = sae_class(config)
    _randomize(sae, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SAELens advises how to load the model for these kwargs
        if architecture == "batchtopk":
            sae.topk_threshold = torch.tensor(0.05)
            sae.save_inference_model(str(folder))
            return sae_lens.SAE.load_from_disk(str(folder))
        sae.save_model(str(folder))
    return sae.eval()


def sparsify_sae(run_folder: Path, hookpoint: str, d_in: int, *, k: int = 8, expansion_factor: int = 4, seed: int = 0):
    """A sparsify TopK SAE with random weights, saved as sparsify saves a run: ``run_folder/<hookpoint>/``."""
    from sparsify import SparseCoder, SparseCoderConfig

    sae = SparseCoder(d_in, SparseCoderConfig(k=k, expansion_factor=expansion_factor))
    _randomize(sae, seed)
    sae.save_to_disk(run_folder / hookpoint)
    return sae.eval()


def sparsify_forward(sae, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sparsify's reconstruction and latents (dense) of ``x``."""
    top_acts, top_indices, _ = sae.encode(x)
    z = torch.zeros(x.shape[0], sae.num_latents).scatter(1, top_indices, top_acts)
    return sae.decode(top_acts, top_indices), z


def saelens_forward(sae, x: torch.Tensor, centred: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """SAELens's reconstruction and latents of ``x`` taken as interpflow stores it: centred per token first
    where TransformerLens's ``center_writing_weights`` applies, the mean added back after."""
    mean = x.mean(dim=1, keepdim=True) if centred else torch.zeros_like(x[:, :1])
    z = sae.encode(x - mean)
    return sae.decode(z) + mean, z

"""The SAE variants by name: how the trainer builds, scores and constrains each.

A new variant is a module with ``build(config)`` and ``loss_terms(model, x, dead)``, one more entry in
:data:`VARIANTS`, and its name in the schema's ``variant`` options; the trainer, checkpoints,
saved files and metrics need no change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from interpflow.sae.core import batch_topk, tied_ksparse, topk

if TYPE_CHECKING:
    from interpflow.sae.core.config import SAEConfig

LossTerms = Callable[[nn.Module, torch.Tensor, torch.Tensor | None], tuple[dict[str, torch.Tensor], torch.Tensor]]


def _unconstrained(model: nn.Module) -> None:
    return None


@dataclass(frozen=True)
class Variant:
    """How the trainer builds, scores and constrains one kind of SAE.

    ``build(config)``: a fresh model from ``config.seed``; the model has ``encode`` ``(tokens, input)``
    -> ``(tokens, latents)`` and ``decode`` back, and its parameters are named as they are saved.
    ``loss_terms(model, x, dead)``: the tensors ``loss`` (what is minimized), ``mse``, ``l1``,
    ``decorrelation`` and ``auxk`` (weighted; 0 where the variant has none), ``x_hat`` and ``l0`` (mean
    non-zero latents per token) for a minibatch ``x`` ``(tokens, input_dim)``, and the latents that fired
    on any of its tokens (``(latent_dim,)``, bool); ``dead`` ``(latent_dim,)`` bool marks the latents the
    trainer counts as dead (``None``: none).
    ``constrain_gradient(model)`` runs between ``backward`` and the optimizer step,
    ``constrain_weights(model)`` after it.
    """

    build: Callable[[SAEConfig], nn.Module]
    loss_terms: LossTerms
    constrain_gradient: Callable[[nn.Module], None] = _unconstrained
    constrain_weights: Callable[[nn.Module], None] = _unconstrained


VARIANTS: dict[str, Variant] = {
    "topk": Variant(
        topk.build,
        topk.loss_terms,
        constrain_gradient=topk.TopKAutoencoder.remove_radial_gradient,
        constrain_weights=topk.TopKAutoencoder.normalize_decoder,
    ),
    "batchtopk": Variant(
        batch_topk.build,
        batch_topk.loss_terms,
        constrain_gradient=topk.TopKAutoencoder.remove_radial_gradient,
        constrain_weights=topk.TopKAutoencoder.normalize_decoder,
    ),
    "tied_ksparse": Variant(tied_ksparse.build, tied_ksparse.loss_terms),
}


def build_model(config: SAEConfig) -> nn.Module:
    """A fresh SAE of ``config.variant``, initialized from ``config.seed``."""
    return VARIANTS[config.variant].build(config)


def loss_terms(
    model: nn.Module, x: torch.Tensor, dead: torch.Tensor | None = None
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The loss terms of ``model`` (of any variant) for a minibatch ``x``, and the latents that fired."""
    return VARIANTS[model.config.variant].loss_terms(model, x, dead)

"""The lecture's SAE: tied weights, k-sparse, with L1 and decorrelation terms.

``z = topk(relu(x @ W_enc.T))`` keeps, per token, the latents at or above the k-th largest value;
``x_hat = z @ W_enc`` decodes with the transposed encoder (tied weights, no biases).
Loss = MSE(x_hat, x) + ``l1_weight`` * mean|z| + ``decorrelation_weight`` * sum of squared
off-diagonal entries of the latents' covariance over tokens.

Training is matrix products with ``W_enc`` (``latents x input``). Two things keep them small: the
decorrelation term is computed in token space (:func:`decorrelation_penalty_gram`) when there are
fewer tokens than latents, and the products run over the active latents only
(:meth:`KSparseAutoencoder.forward_active`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional

if TYPE_CHECKING:
    from interpflow.sae.core.config import SAEConfig


class KSparseAutoencoder(nn.Module):
    """Tied-weight k-sparse autoencoder: ``W_enc`` ``(latent_dim, input_dim)``, the decoder its transpose."""

    def __init__(self, config: SAEConfig):
        super().__init__()
        self.config = config
        self.W_enc = nn.Parameter(torch.empty(config.latent_dim, config.input_dim))
        nn.init.kaiming_uniform_(self.W_enc, a=math.sqrt(5))  # as torch.nn.Linear initializes its weight

    @property
    def W_dec(self) -> torch.Tensor:
        return self.W_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(tokens, input_dim)`` -> ``(tokens, latent_dim)``: ReLU, then values below the k-th largest zeroed."""
        latent = torch.relu(functional.linear(x, self.W_enc))
        kth = latent.topk(self.config.k, dim=1).values[:, -1:]
        return latent * (latent >= kth)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W_enc

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z), z

    def forward_active(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`forward` over the latents that fire for at least one token of ``x``.

        Returns ``x_hat`` ``(tokens, input_dim)``, the active latents ``(tokens, n_active)`` and where
        the latents fire ``(tokens, latent_dim)`` (bool). A latent that is zero for every token adds
        nothing to ``x_hat`` or to any loss term and its weight row gets a zero gradient, so only the
        active rows of ``W_enc`` take part in the products with gradients: the same values and
        gradients as :meth:`forward` (to float rounding), for a fraction of the work. At gpt2 shape on
        the Palinka text about 45% of the latents stay active after the first 20 epochs.
        """
        with torch.no_grad():
            latents = self.encode(x)
            fires = latents != 0
            active = fires.any(dim=0).nonzero().squeeze(1)
        weight = self.W_enc.index_select(0, active)
        z = _ActiveLatents.apply(x, weight, latents, active)
        return z @ weight, z, fires


class _ActiveLatents(torch.autograd.Function):
    """``topk(relu(x @ active_weight.T))`` from the latents the encoder already computed.

    Forward picks the ``active`` columns of ``latents``; backward gives ``active_weight`` the
    gradient of ``relu(x @ active_weight.T)`` masked by where the latents fire, so the encoder
    product is not run a second time for the gradient.
    """

    @staticmethod
    def forward(ctx, x, active_weight, latents, active):
        values = latents.index_select(1, active)
        ctx.save_for_backward(x, values != 0)
        ctx.weight_dtype = active_weight.dtype
        return values

    @staticmethod
    def backward(ctx, grad):
        # in the latents' dtype (bfloat16 under autocast, as the encoder product was), kept in the weight's
        x, fires = ctx.saved_tensors
        return None, ((grad * fires).T @ x.to(grad.dtype)).to(ctx.weight_dtype), None, None


def decorrelation_penalty(z: torch.Tensor) -> torch.Tensor:
    """Sum of squared off-diagonal entries of the ``(latent, latent)`` covariance of ``z`` over tokens.

    ``z``: ``(tokens, latents)``. Computed in whichever space is smaller: the two forms below are equal
    (tests/unit/test_sae.py), and with more latents than tokens, as for an SAE on one text or a
    minibatch, the Gram form avoids the latents × latents matrix altogether.
    """
    tokens, latents = z.shape
    return decorrelation_penalty_gram(z) if tokens < latents else decorrelation_penalty_covariance(z)


def decorrelation_penalty_covariance(z: torch.Tensor) -> torch.Tensor:
    """The direct form: build the ``(latents, latents)`` covariance, sum its squared off-diagonal entries."""
    covariance = torch.cov(z.T)
    return (covariance**2).sum() - (covariance.diagonal() ** 2).sum()


def decorrelation_penalty_gram(z: torch.Tensor) -> torch.Tensor:
    """The same sum through the ``(tokens, tokens)`` Gram matrix of the token-centred latents ``Zc``.

    ``Zcᵀ Zc`` (latents × latents) and ``Zc Zcᵀ`` (tokens × tokens) have the same Frobenius norm, and the
    diagonal of the first is the column sums of ``Zc²``, so with ``n`` tokens
    ``Σ_{i≠j} cov_ij² = (‖Zc Zcᵀ‖²_F − Σ_i (Σ_t Zc[t, i]²)²) / (n − 1)²``.
    """
    centred = z - z.mean(dim=0, keepdim=True)
    gram = centred @ centred.T
    column_sums = (centred**2).sum(dim=0)
    return ((gram**2).sum() - (column_sums**2).sum()) / (z.shape[0] - 1) ** 2


def build(config: SAEConfig) -> KSparseAutoencoder:
    """A fresh SAE, its weights drawn from ``config.seed`` (the global generator's state is kept)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return KSparseAutoencoder(config)


def loss_terms(
    model: KSparseAutoencoder,
    x: torch.Tensor,
    dead: torch.Tensor | None = None,
    penalty=decorrelation_penalty,
    active_only: bool = True,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The weighted loss terms and their sum (``loss``) for a batch ``x``, and the latents that fired
    (``dead`` is not used: the variant has no auxiliary loss).

    ``penalty`` computes the decorrelation term and ``active_only`` picks
    :meth:`~KSparseAutoencoder.forward_active` over :meth:`~KSparseAutoencoder.forward`; the
    benchmark switches both to compare the ways of computing the same loss.
    """
    if active_only:
        x_hat, z, fires = model.forward_active(x)
    else:
        x_hat, z = model(x)
        fires = z.detach() != 0
    config = model.config
    mse = torch.mean((x_hat - x) ** 2)
    l1 = config.l1_weight * z.abs().sum() / (z.shape[0] * config.latent_dim)
    decorrelation = config.decorrelation_weight * penalty(z)
    terms = {
        "loss": mse + l1 + decorrelation,
        "mse": mse,
        "l1": l1,
        "decorrelation": decorrelation,
        "auxk": torch.zeros((), device=x.device),
        "x_hat": x_hat,
        "l0": fires.sum(1).float().mean(),
    }
    return terms, fires.any(dim=0)

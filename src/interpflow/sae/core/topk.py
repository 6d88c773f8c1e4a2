"""The standard untied TopK SAE.

``z = topk_k(relu(W_enc (x - b_pre) + b_enc))``, ``x_hat = W_dec z + b_pre``; decoder rows (one per
latent) have unit norm: their gradient's radial part is removed before each step, and they are
renormalized after it. Loss = MSE, plus, with ``auxk_coefficient`` > 0, Gao et al. (2024)'s auxiliary
loss that brings dead latents back: the ``k_aux`` largest pre-activations among the latents dead at
this step (:func:`auxk_loss`) reconstruct the error ``x − x_hat``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from interpflow.sae.core.sparse_topk import active_latents, active_values, decode_active

if TYPE_CHECKING:
    from interpflow.sae.core.config import SAEConfig


# The sparse step is clearly the faster from this many latents per active one: measured side by side on
# 2 cores, 0.95x the dense step's tokens/s at 48, 1.02x at 64, 1.4x at 96, 2x at 192, 3.6x at 768
# (GPT-2's residual stream at 32 x 768 latents, k = 32); 0.16x at the lecture's 6 (benchmarks/README.md).
SPARSE_STEP_RATIO = 96

ValuesAt = Callable[[torch.Tensor], torch.Tensor]  # latent indices (B, j) -> their pre-activations, with gradient


class TopKAutoencoder(nn.Module):
    """Untied TopK SAE: ``W_enc`` ``(latents, input)``, ``b_enc`` ``(latents,)``, ``W_dec``
    ``(latents, input)`` with unit-norm rows, ``b_pre`` ``(input,)``."""

    def __init__(self, config: SAEConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        self.k = config.k
        decoder = torch.randn(config.latent_dim, config.input_dim, generator=generator)
        decoder /= decoder.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(decoder)
        self.W_enc = nn.Parameter(decoder.clone())
        self.b_enc = nn.Parameter(torch.zeros(config.latent_dim))
        self.b_pre = nn.Parameter(torch.zeros(config.input_dim))

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(W_enc (x - b_pre) + b_enc)``: ``(tokens, input)`` -> ``(tokens, latents)``."""
        return torch.relu((x - self.b_pre) @ self.W_enc.T + self.b_enc)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(tokens, input)`` -> ``(tokens, latents)`` with at most ``k`` non-zero per token."""
        return keep_top(self.pre_activations(x), self.k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W_dec + self.b_pre

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z), z

    @torch.no_grad()
    def remove_radial_gradient(self) -> None:
        """Keep the decoder rows' update tangent to the unit sphere."""
        if self.W_dec.grad is not None:
            radial = (self.W_dec.grad * self.W_dec).sum(dim=1, keepdim=True)
            self.W_dec.grad -= radial * self.W_dec

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True)


def keep_top(values: torch.Tensor, k: int) -> torch.Tensor:
    """``values`` ``(tokens, latents)`` with all but each row's ``k`` largest set to 0."""
    top = values.topk(k, dim=1)
    return torch.zeros_like(values).scatter(1, top.indices, top.values)


def auxk_loss(
    model: TopKAutoencoder,
    pre: torch.Tensor,
    error: torch.Tensor,
    dead: torch.Tensor,
    values_at: ValuesAt | None = None,
) -> torch.Tensor:
    """Gao et al.'s AuxK term: the decoder rows of the ``k_aux`` largest pre-activations ``pre`` among the
    ``dead`` latents (``(latents,)`` bool) reconstruct the error ``x − x_hat`` (a fixed target), as a
    fraction of its variance: ``Σ‖e − ê‖² / Σ‖e − mean(e)‖²``. 0 when no latent is dead. ``values_at(indices)``
    gives the chosen pre-activations with their gradient (default: ``pre``'s own)."""
    k_aux = min(model.config.k_aux or model.config.input_dim // 2, int(dead.sum()))
    if k_aux == 0:
        return torch.zeros((), device=pre.device)
    indices = pre.detach().masked_fill(~dead, -torch.inf).topk(k_aux, dim=1).indices
    values = values_at(indices) if values_at is not None else pre.gather(1, indices)
    error_hat = decode_active(model.W_dec, values, indices)  # no bias: x_hat already holds it
    error = error.detach()
    return ((error_hat - error) ** 2).sum() / ((error - error.mean(dim=0)) ** 2).sum()


def build(config: SAEConfig) -> TopKAutoencoder:
    """A fresh SAE, its weights drawn from ``config.seed``."""
    return TopKAutoencoder(config, torch.Generator().manual_seed(config.seed))


def uses_sparse_step(config: SAEConfig) -> bool:
    """Whether a training step goes over the active latents only (:mod:`interpflow.sae.core.sparse_topk`): where
    the latents outnumber the active ones by :data:`SPARSE_STEP_RATIO` or more."""
    return config.latent_dim >= SPARSE_STEP_RATIO * config.k


def loss_terms(
    model: TopKAutoencoder, x: torch.Tensor, dead: torch.Tensor | None = None, sparse: bool | None = None
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The loss (the MSE, plus ``auxk_coefficient`` × :func:`auxk_loss` of the ``dead`` latents, ``(latents,)``
    bool, none when ``None``; no L1 or decorrelation term) for a batch ``x``, and the latents that fired.
    ``sparse`` picks the step (default: :func:`uses_sparse_step`); both compute the same."""
    if uses_sparse_step(model.config) if sparse is None else sparse:
        values, indices, pre = active_latents(model, x, model.k)
        x_hat = decode_active(model.W_dec, values, indices) + model.b_pre
        active = values.detach() > 0
        fired = torch.zeros(model.config.latent_dim, dtype=torch.bool, device=x.device)
        fired[indices[active]] = True
        terms = loss_terms_of(model, x, x_hat, pre, dead, lambda chosen: active_values(model, x, chosen, pre))
        return terms | {"l0": active.sum(1).float().mean()}, fired
    pre = model.pre_activations(x)
    z = keep_top(pre, model.k)
    return dense_terms(model, x, pre, z, dead)


def dense_terms(
    model: TopKAutoencoder, x: torch.Tensor, pre: torch.Tensor, z: torch.Tensor, dead: torch.Tensor | None
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """:func:`loss_terms` of a TopK-style SAE whose latents ``z`` ``(B, n)`` were kept from its
    pre-activations ``pre``, by dense products; the latents that fired."""
    fires = z.detach() != 0
    terms = loss_terms_of(model, x, model.decode(z), pre, dead)
    return terms | {"l0": fires.sum(1).float().mean()}, fires.any(dim=0)


def loss_terms_of(
    model: TopKAutoencoder,
    x: torch.Tensor,
    x_hat: torch.Tensor,
    pre: torch.Tensor,
    dead: torch.Tensor | None,
    values_at: ValuesAt | None = None,
) -> dict[str, torch.Tensor]:
    """The MSE and AuxK terms of a reconstruction ``x_hat`` of ``x`` (pre-activations ``pre``)."""
    mse = ((x_hat - x) ** 2).mean()
    zero = torch.zeros((), device=x.device)
    auxk, loss = zero, mse
    if model.config.auxk_coefficient > 0 and dead is not None:
        # Gao et al. weigh the AuxK term against the error as a fraction of variance (x's, for the MSE):
        # in the MSE's units, the term is scaled by x's variance per element
        auxk = auxk_loss(model, pre, x - x_hat, dead, values_at)
        variance = ((x - x.mean(dim=0)) ** 2).mean().detach()
        loss = mse + model.config.auxk_coefficient * variance * auxk
    return {"loss": loss, "mse": mse, "l1": zero, "decorrelation": zero, "auxk": auxk, "x_hat": x_hat}

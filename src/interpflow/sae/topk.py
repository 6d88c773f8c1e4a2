"""The standard untied TopK SAE.

``z = topk_k(relu(W_enc (x - b_pre) + b_enc))``, ``x_hat = W_dec z + b_pre``; decoder rows (one per
latent) have unit norm: their gradient's radial part is removed before each step, and they are
renormalized after it. Loss = MSE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from interpflow.sae.config import SAEConfig


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

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(tokens, input)`` -> ``(tokens, latents)`` with at most ``k`` non-zero per token."""
        pre = torch.relu((x - self.b_pre) @ self.W_enc.T + self.b_enc)
        top = pre.topk(self.k, dim=1)
        return torch.zeros_like(pre).scatter(1, top.indices, top.values)

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


def build(config: SAEConfig) -> TopKAutoencoder:
    """A fresh SAE, its weights drawn from ``config.seed``."""
    return TopKAutoencoder(config, torch.Generator().manual_seed(config.seed))


def loss_terms(model: TopKAutoencoder, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The loss (the MSE; no L1 or decorrelation term) for a batch ``x``, and where the latents fire."""
    x_hat, z = model(x)
    mse = ((x_hat - x) ** 2).mean()
    zero = torch.zeros((), device=x.device)
    return {"loss": mse, "mse": mse, "l1": zero, "decorrelation": zero, "x_hat": x_hat}, z.detach() != 0

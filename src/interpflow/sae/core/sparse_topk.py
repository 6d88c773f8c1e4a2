"""The TopK SAE's training step computed over the active latents only (Gao et al. 2024's sparse kernels,
as sparsify does them, in plain PyTorch).

A minibatch of ``B`` tokens through an SAE of ``n`` latents over ``d`` inputs with ``k`` active per token:
the dense step does six ``B × n × d`` products (encoder and decoder, forward and two backward each). Only
the encoder's forward product is needed to find the top ``k``; everything after it touches ``k`` latents
per token:

- the pre-activations ``relu(W_enc (x − b_pre) + b_enc)`` are computed without autograd, their top ``k``
  taken, and :class:`ActiveLatents` hands those values on with a backward pass that sends gradients
  to the ``k`` encoder rows (and biases) each token used, and to ``x − b_pre``;
- the decoder sums the ``k`` active rows of ``W_dec`` weighted by their values (``embedding_bag``),
  whose backward gives ``W_dec``'s rows and the values their gradients the same way.

The forward numbers are the dense step's exactly (the same encoder product and top ``k``); the decoder's
sums and the backward's accumulate in another order (about 1e-7 relative). Work per token:
``2 n d`` for the encoder and about ``8 k d`` for the rest, against ``12 n d`` dense.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CHUNK_ELEMENTS = 2**25  # float32 values (128 MiB) of (tokens, k, d) gradient rows materialized at once


class ActiveLatents(torch.autograd.Function):
    """``values`` (the relu'd pre-activations at ``indices``, computed without autograd) with the gradient of
    ``relu(W_enc[indices] · shifted + b_enc[indices])`` taken over those entries only."""

    @staticmethod
    def forward(ctx, shifted, W_enc, b_enc, indices, values):
        ctx.save_for_backward(shifted, W_enc, indices, values)
        ctx.latents = b_enc.shape[0]
        return values

    @staticmethod
    def backward(ctx, grad):
        shifted, W_enc, indices, values = ctx.saved_tensors
        grad = (grad * (values > 0)).to(W_enc.dtype)  # relu; the sums below in the weights' dtype (autocast)
        grad_shifted = F.embedding_bag(indices, W_enc, per_sample_weights=grad, mode="sum")
        grad_W_enc = torch.zeros_like(W_enc)
        chunk = max(1, CHUNK_ELEMENTS // indices[0].numel() // shifted.shape[1])
        for start in range(0, len(indices), chunk):
            rows = slice(start, start + chunk)
            contributions = grad[rows, :, None] * shifted[rows, None, :]
            grad_W_enc.index_add_(0, indices[rows].reshape(-1), contributions.reshape(-1, shifted.shape[1]))
        grad_b_enc = torch.zeros(ctx.latents, dtype=grad.dtype, device=grad.device)
        grad_b_enc.index_add_(0, indices.reshape(-1), grad.reshape(-1))
        return grad_shifted, grad_W_enc, grad_b_enc, None, None


def active_latents(model: nn.Module, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(values, indices, pre)``: each token's ``k`` largest pre-activations ``(B, k)`` (differentiable with
    respect to the encoder, ``b_pre`` and ``x``), their latents ``(B, k)``, and all pre-activations ``(B, n)``
    (no autograd; the AuxK term picks among them)."""
    with torch.no_grad():
        pre = model.pre_activations(x)
        indices = pre.topk(k, dim=1).indices
    return active_values(model, x, indices, pre), indices, pre


def active_values(model: nn.Module, x: torch.Tensor, indices: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """``pre`` ``(B, n)`` at ``indices`` ``(B, j)``, with the sparse gradient of :class:`ActiveLatents`."""
    return ActiveLatents.apply(x - model.b_pre, model.W_enc, model.b_enc, indices, pre.gather(1, indices))


def decode_active(W_dec: torch.Tensor, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``Σ_j values[:, j] · W_dec[indices[:, j]]``: ``(B, d)``, without the decoder's bias."""
    return F.embedding_bag(indices, W_dec, per_sample_weights=values, mode="sum")

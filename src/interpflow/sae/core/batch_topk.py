"""BatchTopK (Bussmann et al., 2024): the TopK SAE with its sparsity budget shared across the batch.

In training, a minibatch of ``n`` tokens keeps its ``k · n`` largest pre-activations over all tokens and
latents together, so a token may use more than ``k`` latents and another fewer (``k`` on average). Outside
training no batch should change a token's code, so the SAE encodes each token on its own by a learned
threshold ``θ``: ``z = pre · [pre > θ]``. ``θ`` estimates the smallest activation BatchTopK keeps: the mean
over steps of each minibatch's smallest kept positive value, a plain running mean for the first
``1 / THRESHOLD_RATE`` steps and an exponential one (rate :data:`THRESHOLD_RATE`) after that, so later,
better-trained steps count more. It is saved with the weights (a buffer) and resumed with them.

Everything else is the TopK SAE's (:mod:`interpflow.sae.core.topk`): unit-norm decoder rows, the pre-encoder
bias, the MSE and the optional AuxK term. The step is dense (the batch-wide top ``k · n`` needs every
pre-activation of the batch at once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from interpflow.sae.core import topk

if TYPE_CHECKING:
    from interpflow.sae.core.config import SAEConfig

THRESHOLD_RATE = 0.01


class BatchTopKAutoencoder(topk.TopKAutoencoder):
    """The TopK SAE's parameters, plus the buffers ``threshold`` ``(1,)`` and ``threshold_steps`` ``(1,)`` (the
    steps that have updated it)."""

    def __init__(self, config: SAEConfig, generator: torch.Generator):
        super().__init__(config, generator)
        self.register_buffer("threshold", torch.zeros(1))
        self.register_buffer("threshold_steps", torch.zeros(1, dtype=torch.int64))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(tokens, input)`` -> ``(tokens, latents)``: in training mode the batch's ``k · tokens`` largest
        values, else each token's values above the threshold."""
        pre = self.pre_activations(x)
        if self.training:
            return keep_top_of_batch(pre, self.k)
        return pre * (pre > self.threshold)

    @torch.no_grad()
    def update_threshold(self, z: torch.Tensor) -> None:
        """Fold a training minibatch's smallest kept positive activation into the threshold."""
        kept = z[z > 0]
        if kept.numel() == 0:
            return
        self.threshold_steps += 1
        rate = max(THRESHOLD_RATE, 1.0 / float(self.threshold_steps))
        self.threshold += rate * (kept.min() - self.threshold)


def keep_top_of_batch(values: torch.Tensor, k: int) -> torch.Tensor:
    """``values`` ``(tokens, latents)`` with all but the ``k · tokens`` largest of the whole batch set to 0."""
    flat = values.flatten()
    top = flat.topk(min(k * values.shape[0], flat.numel()))
    return torch.zeros_like(flat).scatter(0, top.indices, top.values).view_as(values)


def build(config: SAEConfig) -> BatchTopKAutoencoder:
    """A fresh SAE, its weights drawn from ``config.seed`` (the TopK SAE's initial weights)."""
    return BatchTopKAutoencoder(config, torch.Generator().manual_seed(config.seed))


def loss_terms(
    model: BatchTopKAutoencoder, x: torch.Tensor, dead: torch.Tensor | None = None
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The TopK SAE's loss terms with the batch's ``k · tokens`` latents kept; updates the threshold."""
    pre = model.pre_activations(x)
    z = keep_top_of_batch(pre, model.k)
    model.update_threshold(z)
    return topk.dense_terms(model, x, pre, z, dead)

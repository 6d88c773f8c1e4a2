"""A residual-stream direction's direct effect on the logits, as TransformerLens reads it with the final
norm folded into the unembedding (``fold_ln``): the norm's weight times the unembedding, after centring
for LayerNorm models; the norm's bias and its division by each token's scale are left out (a bias adds
the same to every direction, and the scale is one positive number per token)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from interpflow.models.architectures import adapter_of


@dataclass(frozen=True)
class Unembedding:
    """``W_U`` ``(d_model, vocab)`` with the final norm's weight folded in; ``centred``: LayerNorm removes each
    vector's mean first."""

    W_U: torch.Tensor
    centred: bool

    @classmethod
    def of(cls, model: nn.Module) -> Unembedding:
        adapter = adapter_of(model)
        scale = adapter.final_norm_scale(model).detach().float()
        unembed = model.get_output_embeddings().weight.detach().float()  # (vocab, d_model)
        return cls((unembed * scale).T.contiguous(), adapter.centred_norm)

    def logits(self, directions: torch.Tensor) -> torch.Tensor:
        """``(n, d_model)`` directions -> ``(n, vocab)`` direct logit effects."""
        if self.centred:
            directions = directions - directions.mean(dim=1, keepdim=True)
        return directions.float() @ self.W_U

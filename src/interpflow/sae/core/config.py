"""One config object for every SAE variant: what defines the SAE and its objective.

How the tokens reached the trainer (full batch for some epochs, or a streaming schedule) is recorded
next to it in ``sae_config.json`` (:mod:`interpflow.sae.files`), not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from interpflow.runtime.saved_fields import SavedFields
from interpflow.sae.core.variants import VARIANTS


@dataclass(frozen=True)
class SAEConfig(SavedFields):
    """An SAE of ``variant`` reading ``site``: ``input_dim`` wide, ``latent_dim`` latents, ``k`` non-zero
    per token.

    ``l1_weight`` and ``decorrelation_weight`` weight the loss terms of variants that have them (0 for
    the others); ``learning_rate`` is Adam's; ``seed`` draws the initial weights (and, streaming, the
    data order). No defaults here (each method's schema section holds them) except for the AuxK loss of
    the TopK variants, which is off unless asked for: ``auxk_coefficient`` weighs it, ``k_aux`` dead
    latents reconstruct the error (``None``: ``input_dim // 2``).
    """

    variant: str
    site: str
    input_dim: int
    latent_dim: int
    k: int
    l1_weight: float
    decorrelation_weight: float
    learning_rate: float
    seed: int
    auxk_coefficient: float = 0.0
    k_aux: int | None = None

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant {self.variant!r}: one of {', '.join(VARIANTS)}")
        if not 1 <= self.k <= self.latent_dim:
            raise ValueError(f"k = {self.k} must be in 1..latent_dim ({self.latent_dim})")

"""sparse_autoencoder: what the latents of a k-sparse autoencoder on MLP neurons respond to.

The SAE (:mod:`interpflow.sae`, variant ``tied_ksparse``) trains full batch in the model stage; this
module configures it from an instance's options and scores its latents with the metrics both SAE
methods share (:mod:`interpflow.sae.evaluation.metrics`): density, mean non-zero activation, a category score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from interpflow.sae.core.config import SAEConfig
from interpflow.sae.evaluation.metrics import LatentStatistics, ReconstructionStatistics


def sae_config(site: str, input_dim: int, options: dict) -> SAEConfig:
    """The lecture's SAE on ``site`` from an instance's ``sae`` options: ``latent_factor * input_dim``
    latents, ``k`` of them non-zero per token (``k: null`` is ``input_dim // 3``, the lecture's choice)."""
    return SAEConfig(
        variant="tied_ksparse",
        site=site,
        input_dim=input_dim,
        latent_dim=options["latent_factor"] * input_dim,
        k=options["k"] or input_dim // 3,
        l1_weight=options["l1_weight"],
        decorrelation_weight=options["decorrelation_weight"],
        learning_rate=options["learning_rate"],
        seed=options["seed"],
    )


@torch.no_grad()
def encode_and_evaluate(model: nn.Module, activations: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """The latents ``(tokens, latents)`` of ``activations`` ``(tokens, input_dim)`` and the SAE's
    ``evaluation.parquet`` on them (:mod:`interpflow.sae.evaluation.metrics`)."""
    x = torch.as_tensor(np.asarray(activations, dtype=np.float32), device=next(model.parameters()).device)
    x_hat, z = model(x)
    statistics = ReconstructionStatistics(x.shape[1], z.shape[1])
    statistics.add(x, x_hat, z)
    return z.cpu().numpy(), statistics.table()


def latent_scores(latents: np.ndarray, is_target: np.ndarray, category: str) -> pd.DataFrame:
    """``latents.parquet`` (:class:`interpflow.sae.evaluation.metrics.LatentStatistics`) of ``latents``
    ``(tokens, latents)``, scored for ``category`` on the tokens ``is_target`` marks."""
    statistics = LatentStatistics(latents.shape[1])
    statistics.add(torch.from_numpy(np.asarray(latents)), torch.from_numpy(np.asarray(is_target, dtype=bool)))
    return statistics.table(category)


def ranked(scores: pd.DataFrame, column: str, rank: int) -> int:
    """The latent at 0-based ``rank`` when sorted by ``column``, largest first (stable)."""
    order = scores.sort_values(column, ascending=False, kind="stable")["latent"].to_numpy()
    if not 0 <= rank < len(order):
        raise ValueError(f"rank {rank} is out of range: there are {len(order)} latents")
    return int(order[rank])

"""Subspace removal: take the top singular components out of a tokens x neurons matrix."""

from __future__ import annotations

import numpy as np
import torch


def remove_top_components(activations: torch.Tensor, n_components: int = 1) -> torch.Tensor:
    """Remove the top ``n_components`` singular components, then add back each token's mean.

    ``activations``: ``(..., tokens, neurons)``; every leading index is one matrix (batch kept).
    Returns ``X - sum_{i < k} s_i u_i v_i^T + mean_over_neurons(X)``, the same shape: the
    reconstruction without the top ``k`` components, shifted by each token's original mean
    over neurons as in the source analysis.
    """
    n_tokens, n_neurons = activations.shape[-2:]
    if not 1 <= n_components < min(n_tokens, n_neurons):
        raise ValueError(
            f"n_components {n_components} must be at least 1 and below the number of tokens ({n_tokens}) "
            f"and neurons ({n_neurons})"
        )
    values = activations.to(torch.promote_types(activations.dtype, torch.float32))  # bfloat16: SVD in float32
    u, s, vh = torch.linalg.svd(values, full_matrices=False)
    k = n_components
    top = (u[..., :, :k] * s[..., None, :k]) @ vh[..., :k, :]
    return (values - top + values.mean(dim=-1, keepdim=True)).to(activations.dtype)


def token_covariance(activations: np.ndarray) -> np.ndarray:
    """``(tokens, tokens)`` covariance between tokens across neurons (``np.cov`` of the rows), float64."""
    return np.cov(np.asarray(activations, dtype=np.float64))


def inspection_matrices(original, n_components: int = 1) -> dict:
    """The matrices behind the single-layer inspection figure, as float32 NumPy arrays.

    ``original``: ``(tokens, neurons)`` MLP neuron activations. Returns ``original``,
    ``reconstructed`` (top components removed, computed in float64) and the ``(tokens, tokens)``
    covariances ``cov_original`` and ``cov_reconstructed``.
    """
    reconstructed = remove_top_components(torch.from_numpy(np.asarray(original, np.float64)), n_components).numpy()
    arrays = {
        "original": original,
        "reconstructed": reconstructed,
        "cov_original": token_covariance(original),
        "cov_reconstructed": token_covariance(reconstructed),
    }
    return {name: np.asarray(array, dtype=np.float32) for name, array in arrays.items()}

"""The SAE metrics of both SAE methods, accumulated a block of tokens at a time (sums in float64).

- :class:`ReconstructionStatistics` -> ``evaluation.parquet`` (one row, :data:`EVALUATION_COLUMNS`,
  named as SAEBench's core metrics and each defined as SAELens 6's ``get_sparsity_and_variance_metrics``
  defines it; sums over tokens ``t``, norms over the site's dimensions): ``tokens``, the tokens evaluated;
  ``fvu``, the fraction of variance unexplained ``Σ‖x − x̂‖² / Σ‖x − mean(x)‖²`` (``mean(x)`` per
  dimension, over all tokens evaluated) and ``explained_variance = 1 − fvu``; ``mse``, the mean per token of
  ``‖x − x̂‖²`` (the squared error summed over the dimensions); ``cossim``, the mean per token of
  ``⟨x, x̂⟩ / (‖x‖‖x̂‖)`` (0 for a zero vector, where SAELens gives NaN); ``l2_norm_in`` and ``l2_norm_out``,
  the means of ``‖x‖`` and ``‖x̂‖``; ``l2_ratio``, the mean per token of ``‖x̂‖ / ‖x‖`` (``‖x‖`` below
  :data:`L2_RATIO_FLOOR` taken as 1, as SAELens does); ``relative_reconstruction_bias``,
  ``Σ‖x̂‖² / Σ⟨x, x̂⟩`` over all tokens (1 for a reconstruction that no rescaling improves; below 1,
  shrinkage; SAELens averages this ratio per evaluation batch, which equals it for one batch); ``l0`` and
  ``l1``, the means of the number of non-zero latents and of ``Σ|z|`` per token; ``dead_fraction``, the
  fraction of latents zero on every token, and ``frac_alive = 1 − dead_fraction``.
- :class:`LatentStatistics` -> ``latents.parquet``, one row per latent: ``latent``, ``density``
  (fraction of tokens where it is non-zero), ``mean_activation`` (mean of its non-zero values; 0 if
  none) and, with a word category, ``<category>_score``: its mean non-zero activation on the
  category's tokens over that on all other tokens (0 where either has none), the lecture's score.
- :class:`ActivationHistograms` -> ``activation_histograms.parquet``: per latent, how its non-zero
  activations are spread between 0 and its largest (:data:`HISTOGRAM_COLUMNS`).

Every sum is independent of how the tokens were split into blocks, up to float64 rounding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

EVALUATION_COLUMNS = [
    "tokens",
    "fvu",
    "explained_variance",
    "mse",
    "cossim",
    "l2_norm_in",
    "l2_norm_out",
    "l2_ratio",
    "relative_reconstruction_bias",
    "l0",
    "l1",
    "dead_fraction",
    "frac_alive",
]
LATENT_COLUMNS = ["latent", "density", "mean_activation"]
L2_RATIO_FLOOR = 1e-4  # an input norm below this counts as 1 in l2_ratio (SAELens)


class ReconstructionStatistics:
    """Sums for :data:`EVALUATION_COLUMNS` over blocks of ``(tokens, width)`` activations."""

    def __init__(self, width: int, latents: int):
        self.tokens, self.error, self.active = 0, 0.0, 0
        self.sums = torch.zeros(width, dtype=torch.float64)
        self.squares = torch.zeros(width, dtype=torch.float64)
        self.fires = torch.zeros(latents, dtype=torch.int64)
        # per-token sums: cosine, ‖x‖, ‖x̂‖, ‖x̂‖/‖x‖, ‖x̂‖², ⟨x, x̂⟩, Σ|z|
        self.per_token = torch.zeros(7, dtype=torch.float64)

    @torch.no_grad()
    def add(self, x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor) -> None:
        """A block: activations ``x``, their reconstruction ``x_hat`` and latents ``z`` ``(tokens, latents)``."""
        self.error += float(((x - x_hat) ** 2).sum(dtype=torch.float64))
        self.sums += x.sum(0, dtype=torch.float64).cpu()
        self.squares += (x.double() ** 2).sum(0).cpu()
        self.tokens += len(x)
        active = (z != 0).cpu()
        self.active += int(active.sum())
        self.fires += active.sum(0)
        x, x_hat = x.double(), x_hat.double()
        norm_in, norm_out, dot = x.norm(dim=1), x_hat.norm(dim=1), (x * x_hat).sum(1)
        tiny = torch.finfo(torch.float64).tiny
        per_token = (
            dot / (norm_in * norm_out).clamp(min=tiny),
            norm_in,
            norm_out,
            norm_out / torch.where(norm_in < L2_RATIO_FLOOR, 1.0, norm_in),
            norm_out**2,
            dot,
            z.abs().sum(1, dtype=torch.float64),
        )
        self.per_token += torch.stack([value.sum() for value in per_token]).cpu()

    def table(self) -> pd.DataFrame:
        n = self.tokens
        spread = float((self.squares - self.sums**2 / n).sum())
        dead = float((self.fires == 0).double().mean())
        cossim, norm_in, norm_out, ratio, out_squared, dot, l1 = (self.per_token / n).tolist()
        fvu = self.error / spread
        row = {
            "tokens": n,
            "fvu": fvu,
            "explained_variance": 1 - fvu,
            "mse": self.error / n,
            "cossim": cossim,
            "l2_norm_in": norm_in,
            "l2_norm_out": norm_out,
            "l2_ratio": ratio,
            "relative_reconstruction_bias": out_squared / dot,
            "l0": self.active / n,
            "l1": l1,
            "dead_fraction": dead,
            "frac_alive": 1 - dead,
        }
        return pd.DataFrame([row], columns=EVALUATION_COLUMNS)


class LatentStatistics:
    """Sums for the latent table over blocks of latents ``(tokens, latents)``, optionally split by a
    word category."""

    def __init__(self, latents: int):
        self.tokens, self.category_tokens = 0, 0
        self.fires = torch.zeros(latents, dtype=torch.int64)
        self.totals = torch.zeros(latents, dtype=torch.float64)
        self.on_category = (torch.zeros(latents, dtype=torch.float64), torch.zeros(latents, dtype=torch.int64))
        self.off_category = (torch.zeros(latents, dtype=torch.float64), torch.zeros(latents, dtype=torch.int64))

    @torch.no_grad()
    def add(self, z: torch.Tensor, in_category: torch.Tensor | None = None) -> None:
        """A block of latents ``z``; ``in_category`` ``(tokens,)`` bool marks the category's tokens."""
        active = (z != 0).cpu()
        self.tokens += len(z)
        self.fires += active.sum(0)
        self.totals += z.sum(0, dtype=torch.float64).cpu()
        if in_category is None:
            return
        in_category = in_category.cpu()
        self.category_tokens += int(in_category.sum())
        for (sums, counts), rows in ((self.on_category, in_category), (self.off_category, ~in_category)):
            sums += z[rows.to(z.device)].sum(0, dtype=torch.float64).cpu()
            counts += active[rows].sum(0)

    def table(self, category: str | None = None) -> pd.DataFrame:
        """``latents.parquet``; with ``category``, its ``<category>_score`` column."""
        table = pd.DataFrame(
            {
                "latent": np.arange(len(self.fires)),
                "density": (self.fires.double() / self.tokens).numpy(),
                "mean_activation": _ratio(self.totals, self.fires),
            }
        )
        if category is not None:
            on, off = _ratio(*self.on_category), _ratio(*self.off_category)
            table[f"{category}_score"] = np.divide(on, off, out=np.zeros_like(on), where=(on > 0) & (off > 0))
        return table


def _ratio(sums: torch.Tensor, counts: torch.Tensor) -> np.ndarray:
    sums, counts = sums.numpy(), counts.numpy()
    return np.divide(sums, counts, out=np.zeros(len(sums)), where=counts > 0)


HISTOGRAM_COLUMNS = ["latent", "bin", "low", "high", "count"]


class ActivationHistograms:
    """Per latent, a histogram of its non-zero activations: ``bins`` equal bins from 0 to its largest
    activation ``maxima`` (one per latent, found by an earlier pass; latents that never fire get none).
    A value equal to the maximum falls in the last bin."""

    def __init__(self, maxima: torch.Tensor, bins: int):
        self.maxima, self.bins = maxima.double().clamp(min=0), bins
        self.counts = torch.zeros(len(maxima) * bins, dtype=torch.int64, device=maxima.device)

    @torch.no_grad()
    def add(self, z: torch.Tensor) -> None:
        """A block of latents ``(tokens, latents)``."""
        token, latent = torch.nonzero(z > 0, as_tuple=True)
        scaled = z[token, latent].double() / self.maxima[latent] * self.bins
        index = latent * self.bins + scaled.long().clamp(max=self.bins - 1)
        self.counts.scatter_add_(0, index, torch.ones_like(index))

    def table(self) -> pd.DataFrame:
        """:data:`HISTOGRAM_COLUMNS`: ``bins`` rows per latent that fires, ``low``/``high`` its bin's edges."""
        counts = self.counts.cpu().numpy().reshape(-1, self.bins)
        maxima = self.maxima.cpu().numpy()
        fired = np.flatnonzero(counts.sum(1))
        bin_index = np.tile(np.arange(self.bins), len(fired))
        width = np.repeat(maxima[fired] / self.bins, self.bins)
        return pd.DataFrame(
            {
                "latent": np.repeat(fired, self.bins),
                "bin": bin_index,
                "low": bin_index * width,
                "high": (bin_index + 1) * width,
                "count": counts[fired].reshape(-1),
            }
        )[HISTOGRAM_COLUMNS]

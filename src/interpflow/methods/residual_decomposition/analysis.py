"""residual_decomposition: a block's output is its input plus the attention and MLP updates.

For block ``L`` of any supported family (in eval mode, so dropout is the identity)::

    blocks.{L+1}.hook_resid_pre = blocks.{L}.hook_resid_pre + blocks.{L}.hook_attn_out + blocks.{L}.hook_mlp_out

The last block is the exception: its "next hidden state" is the final norm's output
(``ln_final.output``, Hugging Face's last ``hidden_states``), so the reconstruction differs.

Correlations are over the individual values (tokens x dimensions) where none of the four
matrices exceeds the clip threshold in absolute value, as in the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from interpflow.methods.residual_decomposition.method import layer_sites

COMPARISONS = {
    # name: (x label, y label); {layer} and {next} are filled in by the figures
    "hs_vs_next_hs": ("hidden state {layer}", "hidden state {next}"),
    "attn_delta_vs_mlp_delta": ("attention $\\Delta$", "MLP $\\Delta$"),
    "reconstruction_vs_next_hs": ("hidden state {layer} + attention $\\Delta$ + MLP $\\Delta$", "hidden state {next}"),
    "layer_diff_vs_delta_sum": ("hidden state {next} $-$ hidden state {layer}", "attention $\\Delta$ + MLP $\\Delta$"),
}

CORRELATION_COLUMNS = ["layer", "comparison", "pearson_r", "n_values", "max_abs_reconstruction_error"]


@dataclass
class BlockDecomposition:
    """The four ``(n_tokens, width)`` matrices of one block, from the activation store."""

    layer: int
    hidden: np.ndarray
    next_hidden: np.ndarray
    attn_delta: np.ndarray
    mlp_delta: np.ndarray

    @classmethod
    def from_store(cls, store, layer: int, n_layer: int) -> BlockDecomposition:
        hidden, next_hidden, attn, mlp = (store[site] for site in layer_sites(layer, n_layer))
        return cls(layer, hidden, next_hidden, attn, mlp)

    @property
    def reconstruction(self) -> np.ndarray:
        return self.hidden + self.attn_delta + self.mlp_delta

    def pairs(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``comparison -> (x, y)`` matrices, in the order of :data:`COMPARISONS`."""
        return {
            "hs_vs_next_hs": (self.hidden, self.next_hidden),
            "attn_delta_vs_mlp_delta": (self.attn_delta, self.mlp_delta),
            "reconstruction_vs_next_hs": (self.reconstruction, self.next_hidden),
            "layer_diff_vs_delta_sum": (self.next_hidden - self.hidden, self.attn_delta + self.mlp_delta),
        }

    def clip_mask(self, threshold: float | None) -> np.ndarray:
        """True where no matrix exceeds ``threshold`` in absolute value (all True for ``None``)."""
        matrices = (self.hidden, self.next_hidden, self.attn_delta, self.mlp_delta)
        if threshold is None:
            return np.ones(self.hidden.shape, dtype=bool)
        return np.logical_and.reduce([np.abs(m) <= threshold for m in matrices])

    def max_abs_reconstruction_error(self) -> float:
        """``max |reconstruction - next residual stream|`` over all values (no clipping)."""
        return float(np.max(np.abs(self.reconstruction.astype(np.float64) - self.next_hidden)))


def correlations(block: BlockDecomposition, clip_threshold: float | None) -> pd.DataFrame:
    """One row per comparison: Pearson r over the unclipped values of one block."""
    from scipy import stats  # here, not at the top: the Snakefile imports this module to check the config

    mask = block.clip_mask(clip_threshold)
    error = block.max_abs_reconstruction_error()
    rows = []
    for name, (x, y) in block.pairs().items():
        xs, ys = x[mask].astype(np.float64), y[mask].astype(np.float64)
        r = stats.pearsonr(xs, ys).statistic if xs.size >= 2 else np.nan
        rows.append((block.layer, name, float(r), int(mask.sum()), error))
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def correlation_table(store, layers: list[int], clip_threshold: float | None, n_layer: int) -> pd.DataFrame:
    """``correlations.parquet``: one row per (layer, comparison)."""
    frames = [correlations(BlockDecomposition.from_store(store, layer, n_layer), clip_threshold) for layer in layers]
    return pd.concat(frames, ignore_index=True)


def comparison_values(store, layer: int, clip_threshold: float | None, n_layer: int) -> pd.DataFrame:
    """The values behind the scatter plots: ``layer``, ``comparison``, ``x``, ``y`` (clipped values dropped)."""
    block = BlockDecomposition.from_store(store, layer, n_layer)
    mask = block.clip_mask(clip_threshold)
    frames = [
        pd.DataFrame({"layer": layer, "comparison": name, "x": x[mask], "y": y[mask]})
        for name, (x, y) in block.pairs().items()
    ]
    return pd.concat(frames, ignore_index=True)

"""subspace_removal: remove the top singular component(s) of MLP neurons and measure the effect downstream.

Statistics on the ``(tokens, neurons)`` matrix of the instance's ``neuron_site`` (default
``blocks.L.mlp.hook_pre``, before the activation function) and on the
results of intervened runs (:mod:`interpflow.methods.subspace_removal.interventions`). NumPy/SciPy only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interpflow.models.sites import block_site, residual_stream

HIDDEN_STATE_IMPACT_COLUMNS = ["intervention_layer", "hidden_state", "diff_norm"]
LOGIT_IMPACT_COLUMNS = ["intervention_layer", "position", "token_id", "token", "delta_logprob"]
LAYER_SWEEP_COLUMNS = ["layer", "t_statistic", "p_value", "top_pc_variance_pct"]
SPECTRUM_COLUMNS = ["layer", "component", "variance_pct_original", "variance_pct_reconstructed"]


def variance_pct(singular_values: np.ndarray) -> np.ndarray:
    """Percent of the total sum of squares carried by each singular component."""
    energy = np.asarray(singular_values, dtype=np.float64) ** 2
    return 100 * energy / energy.sum()


def top_component_variance_pct(activations: np.ndarray) -> float:
    """``100 * s_0^2 / sum s_i^2`` of a ``(tokens, neurons)`` matrix."""
    return float(variance_pct(np.linalg.svd(np.asarray(activations, np.float64), compute_uv=False))[0])


def eigenspectrum_pct(covariance: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric matrix in percent of their sum, largest first (``eigvalsh``)."""
    eigenvalues = np.linalg.eigvalsh(covariance)[::-1]
    return 100 * eigenvalues / eigenvalues.sum()


def spectrum_table(layer: int, original: np.ndarray, reconstructed: np.ndarray) -> pd.DataFrame:
    """``inspection_spectrum.parquet``: eigenspectra (% variance) of both token covariances."""
    from interpflow.methods.subspace_removal.subspace import token_covariance

    before = eigenspectrum_pct(token_covariance(original))
    after = eigenspectrum_pct(token_covariance(reconstructed))
    return pd.DataFrame(
        {
            "layer": layer,
            "component": np.arange(len(before)),
            "variance_pct_original": before,
            "variance_pct_reconstructed": after,
        }
    )


def cosine_similarity_matrix(hidden: np.ndarray, skip_first: bool = True) -> np.ndarray:
    """``(tokens, tokens)`` cosine similarities between token vectors (first token excluded by default)."""
    vectors = np.asarray(hidden[1:] if skip_first else hidden, dtype=np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit @ unit.T


def hidden_state_impact_table(runs) -> pd.DataFrame:
    """``hidden_state_impact.parquet``: one row per (intervention layer, hidden state)."""
    frames = [
        pd.DataFrame(
            {
                "intervention_layer": run.layer,
                "hidden_state": np.arange(len(run.diff_norms)),
                "diff_norm": run.diff_norms,
            }
        )
        for run in runs
    ]
    return pd.concat(frames, ignore_index=True)


def logit_impact_table(runs, tokens: pd.DataFrame) -> pd.DataFrame:
    """``logit_impact.parquet``: one row per (intervention layer, position with a preceding token).

    ``delta_logprob`` at ``position`` p is log P(token_p | tokens before p), clean minus intervened.
    ``tokens``: the text's token table rows (``position``, ``token_id``, ``token``).
    """
    following = tokens.iloc[1:]
    frames = [
        pd.DataFrame(
            {
                "intervention_layer": run.layer,
                "position": following["position"].to_numpy(),
                "token_id": following["token_id"].to_numpy(),
                "token": following["token"].to_numpy(),
                "delta_logprob": run.delta_logprob,
            }
        )
        for run in runs
    ]
    return pd.concat(frames, ignore_index=True)


def layer_sweep_table(logit_impact: pd.DataFrame, top_pc_variance: dict[int, float]) -> pd.DataFrame:
    """``layer_sweep.parquet``: one-sample t-test of ``delta_logprob`` against 0 per layer.

    Over the positions that have a preceding token (two-sided, scipy ``ttest_1samp``); the seed
    also counted a structural zero at position 0, which this leaves out.
    """
    from scipy import stats  # here, not at the top: the Snakefile imports this module to check the config

    rows = []
    for layer, group in logit_impact.groupby("intervention_layer", sort=True):
        test = stats.ttest_1samp(group["delta_logprob"].to_numpy(), 0.0)
        rows.append((int(layer), float(test.statistic), float(test.pvalue), top_pc_variance[layer]))
    return pd.DataFrame(rows, columns=LAYER_SWEEP_COLUMNS)


def intervention_outputs(runs, store, intervention_layer: int, neuron_site: str, n_layer: int) -> dict:
    """Every table and matrix of the intervention stage.

    Returns ``hidden_state_impact``, ``logit_impact`` and ``layer_sweep`` (DataFrames), and
    ``cosine_similarity``: ``{"clean", "intervened"}`` ``(tokens-1, tokens-1)`` float32 matrices of
    residual stream ``L+1`` at the intervention layer, first token excluded.
    """
    logit_impact = logit_impact_table(runs, store.tokens)
    variance = {run.layer: top_component_variance_pct(store[block_site(run.layer, neuron_site)]) for run in runs}
    at_layer = next(run for run in runs if run.layer == intervention_layer)
    return {
        "hidden_state_impact": hidden_state_impact_table(runs),
        "logit_impact": logit_impact,
        "layer_sweep": layer_sweep_table(logit_impact, variance),
        "cosine_similarity": {
            "clean": cosine_similarity_matrix(store[residual_stream(intervention_layer + 1, n_layer)]).astype(
                np.float32
            ),
            "intervened": cosine_similarity_matrix(at_layer.hidden_after).astype(np.float32),
        },
    }

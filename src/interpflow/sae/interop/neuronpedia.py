"""SAE latents in the JSON layout SAEDashboard writes for Neuronpedia uploads (its ``NeuronpediaDashboardBatch``).

A batch is ``{"model_id", "layer", "sae_set", "features": [...]}``; each feature (latent) holds:

- ``feature_index``; ``frac_nonzero`` (its density on the held-out tokens);
- ``pos_str``/``pos_values`` and ``neg_str``/``neg_values``: the tokens its decoder direction raises and
  lowers most through the unembedding, and by how much (``logit_tokens.parquet``);
- ``freq_hist_data_bar_values``/``freq_hist_data_bar_heights``: its activation histogram, bin centres and
  counts (``activation_histograms.parquet``);
- ``activations``: its top-activating contexts, each ``{"bin_min": -1, "bin_max": <its largest activation>,
  "bin_contains": -1, "tokens": [...], "values": [...]}`` (SAEDashboard's "top activations" group), a value
  for every token (``context_activations.parquet``);
- ``n_prompts_total``, ``n_tokens_in_prompt``, ``dataset``: what it was evaluated on;
- the lists SAEDashboard fills from analyses interpflow does not run (neuron alignment, correlated neurons
  and features, the logit histogram, the decoder's distribution over heads), empty.

Values are rounded to 3 decimals, as SAEDashboard rounds them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from interpflow.runtime.atomic_io import atomic_directory

UNFILLED = (
    "neuron_alignment_indices",
    "neuron_alignment_values",
    "neuron_alignment_l1",
    "correlated_neurons_indices",
    "correlated_neurons_l1",
    "correlated_neurons_pearson",
    "correlated_features_indices",
    "correlated_features_l1",
    "correlated_features_pearson",
    "logits_hist_data_bar_heights",
    "logits_hist_data_bar_values",
    "decoder_weights_dist",
)


def _rounded(values) -> list[float]:
    return [round(float(value), 3) for value in values]


def neuronpedia_features(
    latents: pd.DataFrame,
    histograms: pd.DataFrame,
    logits: pd.DataFrame,
    shading: pd.DataFrame,
    evaluated: dict,
) -> list[dict]:
    """One feature per row of ``latents`` (in its order), from the run's tables; ``evaluated``:
    ``n_prompts_total``, ``n_tokens_in_prompt``, ``dataset``."""
    histograms_of = dict(tuple(histograms.groupby("latent")))
    logits_of = dict(tuple(logits.groupby("latent")))
    shading_of = dict(tuple(shading.groupby("latent")))
    features = []
    for latent, density in zip(latents["latent"], latents["density"], strict=True):
        feature = {name: [] for name in UNFILLED}
        feature.update(feature_index=int(latent), frac_nonzero=float(density), **evaluated)
        bars = histograms_of.get(latent, pd.DataFrame(columns=["bin", "low", "high", "count"])).sort_values("bin")
        feature["freq_hist_data_bar_values"] = _rounded((bars["low"] + bars["high"]) / 2)
        feature["freq_hist_data_bar_heights"] = [int(count) for count in bars["count"]]
        tokens = logits_of.get(latent, pd.DataFrame(columns=["direction", "rank", "token", "logit"]))
        for key, direction in (("pos", "top"), ("neg", "bottom")):
            rows = tokens[tokens["direction"] == direction].sort_values("rank")
            feature[f"{key}_str"] = rows["token"].tolist()
            feature[f"{key}_values"] = _rounded(rows["logit"])
        feature["activations"] = _activations(shading_of.get(latent))
        features.append(feature)
    return features


def _activations(shading: pd.DataFrame | None) -> list[dict]:
    if shading is None:
        return []
    contexts = []
    for _, rows in shading.groupby("rank", sort=True):
        rows = rows.sort_values("offset")
        values = _rounded(rows["activation"])
        contexts.append(
            {
                "bin_min": -1,
                "bin_max": max(values),
                "bin_contains": -1,
                "tokens": rows["token"].tolist(),
                "values": values,
            }
        )
    return contexts


def write_neuronpedia_batches(
    folder: str | os.PathLike, features: list[dict], model_id: str, layer: int, sae_set: str, per_batch: int = 128
) -> None:
    """``batch-<i>.json`` of ``per_batch`` features each, in ``folder`` (replaced as a whole, atomically)."""
    with atomic_directory(folder) as tmp:
        for number, start in enumerate(range(0, max(len(features), 1), per_batch)):
            batch = {
                "model_id": model_id,
                "layer": layer,
                "sae_set": sae_set,
                "features": features[start : start + per_batch],
            }
            text = json.dumps(batch, default=_plain, allow_nan=False)
            (Path(tmp) / f"batch-{number}.json").write_text(text + "\n", encoding="utf-8")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")

"""Neuronpedia-ready latent pages: logit tokens (a planted direction is found), the SAEDashboard JSON layout,
and the page's histograms and shaded contexts."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import torch

from interpflow.methods.streaming_sae.figures import contexts_page
from interpflow.sae.evaluation.logit_tokens import LOGIT_COLUMNS, logit_tokens
from interpflow.sae.interop.neuronpedia import neuronpedia_features, write_neuronpedia_batches


class PlainUnembedding:
    def __init__(self, W_U):
        self.W_U = W_U

    def logits(self, directions):
        return directions @ self.W_U


def test_a_planted_decoder_direction_raises_its_token_most_and_the_table_is_every_latents_extremes():
    generator = torch.Generator().manual_seed(0)
    d_model, vocab = 16, 50
    W_U = torch.randn(d_model, vocab, generator=generator)
    W_dec = torch.randn(5, d_model, generator=generator) * 0.1
    W_dec[3] = W_U[:, 42] / W_U[:, 42].norm() * 3  # latent 3 writes token 42's unembedding direction
    vocabulary = [f"t{i}" for i in range(vocab)]
    table = logit_tokens(W_dec, PlainUnembedding(W_U), vocabulary, n=4, chunk_latents=2)
    assert list(table.columns) == LOGIT_COLUMNS and len(table) == 5 * 2 * 4
    assert table.query("latent == 3 and direction == 'top' and rank == 0")["token"].item() == "t42"
    logits = (W_dec @ W_U).numpy()
    for latent in range(5):
        for direction, order in (("top", -1), ("bottom", 1)):
            rows = table[(table["latent"] == latent) & (table["direction"] == direction)].sort_values("rank")
            expected = np.argsort(order * logits[latent], kind="stable")[:4]
            assert rows["token_id"].tolist() == expected.tolist()
            np.testing.assert_allclose(rows["logit"], logits[latent, expected], rtol=1e-6)


# The keys of SAEDashboard's NeuronpediaDashboardFeature.to_dict and NeuronpediaDashboardActivation.to_dict
# (sae-dashboard pins TransformerLens 2 and transformers < 4.57, so it cannot be installed beside this project).
FEATURE_KEYS = {
    "feature_index", "neuron_alignment_indices", "neuron_alignment_values", "neuron_alignment_l1",
    "correlated_neurons_indices", "correlated_neurons_l1", "correlated_neurons_pearson",
    "correlated_features_indices", "correlated_features_l1", "correlated_features_pearson", "neg_str", "neg_values",
    "pos_str", "pos_values", "frac_nonzero", "freq_hist_data_bar_values", "freq_hist_data_bar_heights",
    "logits_hist_data_bar_heights", "logits_hist_data_bar_values", "n_prompts_total", "n_tokens_in_prompt",
    "dataset", "decoder_weights_dist", "activations",
}  # fmt: skip
ACTIVATION_KEYS = {"bin_min", "bin_max", "bin_contains", "tokens", "values"}

LATENTS = pd.DataFrame({"latent": [0, 1, 2], "density": [0.5, 0.0, 0.25], "mean_activation": [1.0, 0.0, 2.0]})
HISTOGRAMS = pd.DataFrame(
    {"latent": [0, 0, 2, 2], "bin": [0, 1, 0, 1], "low": [0, 1, 0, 2], "high": [1, 2, 2, 4], "count": [3, 1, 0, 2]}
)
LOGITS = pd.DataFrame(
    {
        "latent": [0, 0, 0, 0],
        "direction": ["top", "top", "bottom", "bottom"],
        "rank": [1, 0, 0, 1],
        "token_id": [7, 5, 9, 8],
        "token": [" b", " a", " z", " y"],
        "logit": [0.5, 0.75, -1.0, -0.25],
    }
)
SHADING = pd.DataFrame(
    {
        "latent": [0, 0, 0, 2, 2],
        "rank": [0, 0, 0, 0, 0],
        "offset": [1, -1, 0, -1, 0],
        "token": [" after", " before", " <it>", " x", " y"],
        "activation": [0.5, 0.0, 2.0, 1.0, 4.0],
    }
)
CONTEXTS = pd.DataFrame(
    {
        "latent": [0, 2],
        "rank": [0, 0],
        "activation": [2.0, 4.0],
        "shard": [1, 1],
        "window": [0, 1],
        "position": [3, 4],
        "before": [" before", " x"],
        "token": [" <it>", " y"],
        "after": [" after", ""],
    }
)
EVALUATED = {"n_prompts_total": 9, "n_tokens_in_prompt": 31, "dataset": "demo"}


def test_each_latent_is_a_feature_in_saedashboards_layout(tmp_path):
    features = neuronpedia_features(LATENTS, HISTOGRAMS, LOGITS, SHADING, EVALUATED)
    assert [feature["feature_index"] for feature in features] == [0, 1, 2]
    assert all(set(feature) == FEATURE_KEYS for feature in features)
    first = features[0]
    assert (first["pos_str"], first["pos_values"]) == ([" a", " b"], [0.75, 0.5])
    assert (first["neg_str"], first["neg_values"]) == ([" z", " y"], [-1.0, -0.25])
    assert first["freq_hist_data_bar_values"] == [0.5, 1.5] and first["freq_hist_data_bar_heights"] == [3, 1]
    (context,) = first["activations"]
    assert set(context) == ACTIVATION_KEYS
    assert context["tokens"] == [" before", " <it>", " after"] and context["values"] == [0.0, 2.0, 0.5]
    assert context["bin_max"] == 2.0 and first["frac_nonzero"] == 0.5 and first["dataset"] == "demo"
    assert features[1]["activations"] == [] and features[1]["pos_str"] == []  # a latent that never fires
    write_neuronpedia_batches(tmp_path / "np", features, "embedded", 6, "demo", per_batch=2)
    batches = [json.loads((tmp_path / "np" / f"batch-{i}.json").read_text()) for i in range(2)]
    assert [len(batch["features"]) for batch in batches] == [2, 1]
    assert {key: batches[0][key] for key in ("model_id", "layer", "sae_set")} == {
        "model_id": "embedded",
        "layer": 6,
        "sae_set": "demo",
    }
    assert batches[1]["features"][0] == json.loads(json.dumps(features[2]))


def test_the_page_shades_every_context_token_and_draws_each_latents_histogram_and_logit_tokens():
    page = contexts_page(LATENTS, CONTEXTS, pd.DataFrame({"tokens": [10]}), "run", 10, HISTOGRAMS, LOGITS, SHADING)
    latent0, latent2 = re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1])  # the densest first
    assert latent0.count("v-") == 2 and latent2.count("v-") == 1  # one bar per bin that counts tokens
    context = latent0[latent0.index('<span class="context">') :]
    assert context.startswith('<span class="context"> before<span class="s10"')  # 0: plain text
    assert re.findall(r'class="s(\d+)" title="([^"]+)"', context) == [("10", "2"), ("3", "0.5")]  # of 2.0, in tenths
    assert ".s3 { background: rgba(244, 164, 96, 0.3); }" in page
    assert "<mark> &lt;it&gt;</mark>" in latent0 and "<it>" not in latent0  # the activating token, escaped
    assert '▲</b> <span title="+0.75"> a</span><span title="+0.5"> b</span>' in latent0  # raised most first
    assert '▼</b> <span title="-1"> z</span>' in latent0
    assert "▲" not in latent2  # no logit tokens for it: none drawn

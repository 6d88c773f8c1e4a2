"""logit_lens: the last layer is the model's own logits bit for bit in every family, every layer equals a
float64 NumPy computation by hand on a 2-block GPT-2, and the start-up checks name their key."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from snakemake.utils import update_config

from interpflow.config import ConfigError, validate_config
from interpflow.methods.logit_lens.lens import lens_logits, lens_sites, logit_lens, residual_streams, text_statistics
from interpflow.models.loading import vendored_tokenizer
from tests.conftest import ROOT, TOKENIZER_DIR
from tests.model_zoo import VARIANTS, tiny_model

TEXTS = ["The composer Maurice Ravel was born in Ciboure, near the border with Spain.", "Plants need water and light."]


@pytest.fixture(scope="module")
def tokenizer():
    return vendored_tokenizer(TOKENIZER_DIR)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_last_layer_is_the_models_own_logits_bit_for_bit(variant, tokenizer):
    model = tiny_model(variant, True)
    token_ids = tokenizer(TEXTS[0])["input_ids"]
    streams, logits = residual_streams(model, token_ids)
    with torch.no_grad():
        own = model(torch.tensor([token_ids])).logits
    assert len(streams) == model.config.num_hidden_layers + 1
    assert torch.equal(lens_logits(model, streams[-1]), own) and torch.equal(logits, own)
    stats = text_statistics(model, token_ids, target=None, top_k=3)
    log_p = torch.log_softmax(own[0].double(), dim=-1)
    next_ids = torch.tensor(token_ids[1:])
    assert np.array_equal(stats["next_prob"][-1, :-1], log_p[:-1].gather(1, next_ids[:, None])[:, 0].exp().numpy())
    assert np.array_equal(stats["top_ids"][-1], torch.topk(log_p, 3, dim=1).indices.numpy())
    assert np.all(stats["kl"][-1] == 0) and np.all(stats["kl"][:-1] > 0)


def by_hand(model, token_ids: list[int]) -> dict[str, np.ndarray]:
    """Every layer's log-probabilities in float64 NumPy: the residual streams read by plain hooks on GPT-2's
    blocks, LayerNorm with the final norm's weight and bias, the tied unembedding."""
    streams = []
    hooks = [
        block.register_forward_pre_hook(lambda m, args: streams.append(args[0][0].double().numpy()))
        for block in model.transformer.h
    ]
    hooks.append(
        model.transformer.h[-1].register_forward_hook(
            lambda m, args, out: streams.append((out[0] if isinstance(out, tuple) else out)[0].double().numpy())
        )
    )
    with torch.no_grad():
        model(torch.tensor([token_ids]))
    for hook in hooks:
        hook.remove()
    norm = model.transformer.ln_f
    weight, bias = norm.weight.detach().double().numpy(), norm.bias.detach().double().numpy()
    unembedding = model.lm_head.weight.detach().double().numpy()  # (vocab, d_model)
    log_probs = []
    for x in streams:
        centred = x - x.mean(axis=1, keepdims=True)
        normed = centred / np.sqrt((centred**2).mean(axis=1, keepdims=True) + norm.eps) * weight + bias
        logits = normed @ unembedding.T
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs.append(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))
    return np.stack(log_probs)  # (layers, tokens, vocab)


def test_every_layer_equals_the_lens_computed_by_hand_on_a_two_block_model(tokenizer):
    model = tiny_model("gpt2", True, spec={"n_layer": 2})
    target = " Spain"
    tables = logit_lens(model, tokenizer, TEXTS, target, top_k=4)
    lens, top = tables["lens"], tables["top_tokens"]
    assert sorted(lens["layer"].unique()) == [0, 1, 2]
    assert list(lens.drop_duplicates("layer")["site"]) == lens_sites(2)
    target_id = tokenizer(target)["input_ids"][0]
    for text_id, text in enumerate(TEXTS):
        token_ids = tokenizer(text)["input_ids"]
        log_p = by_hand(model, token_ids)
        rows = lens[lens["text_id"] == text_id].sort_values(["layer", "position"])
        n = len(token_ids)
        next_ids = np.array(token_ids[1:])
        expected_prob = np.exp(np.take_along_axis(log_p[:, :-1], next_ids[None, :, None], axis=2)[..., 0])
        got = rows["next_token_prob"].to_numpy().reshape(3, n)
        np.testing.assert_allclose(got[:, :-1], expected_prob, rtol=1e-5, atol=1e-9)
        assert np.isnan(got[:, -1]).all() and rows.query("position == @n - 1")["next_token"].isna().all()
        chosen = np.take_along_axis(log_p[:, :-1], next_ids[None, :, None], axis=2)
        expected_rank = (log_p[:, :-1] > chosen + 1e-9).sum(axis=2) + 1
        np.testing.assert_array_equal(rows["next_token_rank"].to_numpy().reshape(3, n)[:, :-1], expected_rank)
        np.testing.assert_allclose(
            rows["target_prob"].to_numpy().reshape(3, n), np.exp(log_p[:, :, target_id]), rtol=1e-5
        )
        kl = (np.exp(log_p[-1]) * (log_p[-1] - log_p)).sum(axis=2)
        np.testing.assert_allclose(rows["kl_to_final"].to_numpy().reshape(3, n), kl, rtol=1e-4, atol=1e-7)
        best = top[(top["text_id"] == text_id) & (top["rank"] == 1)].sort_values(["layer", "position"])
        np.testing.assert_array_equal(best["token_id"].to_numpy().reshape(3, n), log_p.argmax(axis=2))
        assert rows["token"].tolist()[:n] == [tokenizer.decode([t]) for t in token_ids]
    assert lens["kl_to_final"][lens["layer"] < 2].min() > 1e-6  # the layers differ: the comparison is not vacuous


def test_a_planted_prediction_shows_from_the_layer_that_writes_it(tokenizer):
    """Positive control: block 1's MLP writes the unembedding direction of ' Paris' at every position (a
    model wide enough for random unembedding rows to be nearly orthogonal), so the lens ranks ' Paris'
    first from layer 2 on, and almost never before."""
    model = tiny_model("gpt2", False, spec={"n_layer": 3, "n_embd": 256})
    target_id = tokenizer(" Paris")["input_ids"][0]
    with torch.no_grad():
        direction = model.lm_head.weight[target_id] / model.lm_head.weight[target_id].norm()
        model.transformer.h[1].mlp.c_proj.bias.add_(60 * direction)
    lens = logit_lens(model, tokenizer, TEXTS[:1], " Paris", top_k=1)["lens"]
    first = lens.groupby("layer")["target_rank"].apply(lambda ranks: (ranks == 1).mean())
    assert first[[2, 3]].min() == 1.0 and first[[0, 1]].max() < 0.2


def overlay(project_config, options: dict) -> dict:
    config = copy.deepcopy(project_config)
    update_config(config, {"logit_lens": {"lens": {"models": ["gpt2"], "text": "plants", **options}}})
    return config


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({"target": " Ravel"}, "logit_lens.lens.target", "' Ravel' is not a single token"),
        ({"figure_text": 1}, "logit_lens.lens.figure_text", "text 1 does not exist: text set 'plants' has 1"),
    ],
)
def test_a_bad_instance_stops_the_workflow_at_start_up_with_the_key_named(project_config, options, key, message):
    with pytest.raises(ConfigError) as error:
        validate_config(overlay(project_config, options), ROOT)
    assert error.value.key == key and message in str(error.value)
    validate_config(overlay(project_config, {"target": " water"}), ROOT)  # one token with its space: accepted


def test_tables_are_tidy_with_one_row_per_text_position_and_layer(tokenizer):
    model = tiny_model("gpt2", False, spec={"n_layer": 2})
    tables = logit_lens(model, tokenizer, TEXTS, None, top_k=2)
    lens, top = tables["lens"], tables["top_tokens"]
    n_tokens = sum(len(ids) for ids in tokenizer(TEXTS)["input_ids"])
    assert len(lens) == 3 * n_tokens and len(top) == 2 * len(lens)
    assert lens[["text_id", "position", "layer"]].duplicated().sum() == 0
    assert lens["target_rank"].isna().all() and lens["target_prob"].isna().all()
    assert pd.api.types.is_integer_dtype(lens["next_token_rank"])


def test_the_comparison_summarizes_every_layer_and_draws_every_run():
    from interpflow.methods.logit_lens.comparison import comparison_figure, comparison_table
    from interpflow.runtime.comparison import Run

    def run_table(n_layer):
        layers = np.repeat(np.arange(n_layer + 1), 3)
        positions = np.tile(np.arange(3), n_layer + 1)
        return pd.DataFrame(
            {
                "layer": layers,
                "position": positions,
                "next_token_rank": pd.array(np.where(positions == 2, np.nan, 10.0 - layers - positions), dtype="Int64"),
                "next_token_prob": np.where(positions == 2, np.nan, 0.1 * layers),
                "kl_to_final": (n_layer - layers) * 1.0 + positions,
            }
        )

    runs = [Run("a", "small", 3), Run("b", "large", 5)]
    table = comparison_table(runs, lens=[run_table(3), run_table(5)])
    small = table.query("instance == 'a'")
    assert small["layer"].tolist() == [0, 1, 2, 3] and small["relative_depth"].tolist() == [0, 1 / 3, 2 / 3, 1]
    assert small["median_next_token_rank"].tolist() == [9.5, 8.5, 7.5, 6.5]  # positions 0 and 1 only
    np.testing.assert_allclose(small["mean_kl_to_final"], [4.0, 3.0, 2.0, 1.0])  # over all three positions
    fig = comparison_figure(table)
    labels = {text.get_text() for legend in fig.legends for text in legend.get_texts()}
    assert {"a · small", "b · large"} <= labels

"""Held-out evaluation and top-activating contexts, streaming, against computing on all tokens at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interpflow.methods.streaming_sae.evaluation import evaluate
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.streaming import StreamingSchedule, token_rows, train_streaming
from interpflow.stores.corpus_store import CorpusStore
from interpflow.stores.word_categories import category_positions

SITE = "blocks.1.hook_resid_pre"
WORDS = ["coffee", "fruit", "the", "Hungary", "Ravel", "pálinka"]


@pytest.fixture(scope="module")
def store(tiny_corpus):
    return CorpusStore(tiny_corpus[1] / "manifest.json")


@pytest.fixture(scope="module")
def vocabulary(tiny_model):
    tokenizer = tiny_model[1]
    return tokenizer.batch_decode([[i] for i in range(len(tokenizer))])


@pytest.fixture(scope="module")
def model(store):
    config = SAEConfig(
        "topk",
        SITE,
        input_dim=32,
        latent_dim=64,
        k=6,
        l1_weight=0.0,
        decorrelation_weight=0.0,
        learning_rate=1e-3,
        seed=0,
    )
    return train_streaming(store, config, StreamingSchedule(batch_tokens=30, buffer_tokens=64, token_budget=30 * 40))[0]


@pytest.fixture(scope="module")
def evaluated(model, store, vocabulary):
    category = {"name": "category", "words": WORDS}
    return evaluate(
        model, store, SITE, [2, 3], vocabulary, category, top_k=3, block_tokens=40, context_before=3, context_after=2
    )


def heldout(store, vocabulary):
    """Every held-out token at once: ``x`` (tokens, width), token strings per window, where each row is."""
    x, strings, where = [], [], []
    for shard in (2, 3):
        indices = np.arange(store.windows(shard))
        x.append(token_rows(store.activations(SITE, shard, indices), True))
        for window, ids in zip(indices, store.token_ids(shard, indices).tolist(), strict=True):
            strings.append([vocabulary[i] for i in ids])
            where += [(shard, window, position) for position in range(1, 16)]
    return torch.cat(x), strings, where


def spelled_out_positions(tokens: list[str], words: list[str]) -> np.ndarray:
    """The matching rule written out token by token (the lecture's loop): an independent reference."""
    marked = np.zeros(len(tokens), dtype=bool)
    for word in words:
        for start in range(len(tokens)):
            text, end = "", start
            while end < len(tokens) and len(text) < len(" " + word):
                text, end = text + tokens[end], end + 1
            if text == " " + word and not (end < len(tokens) and tokens[end][:1].isalnum()):
                marked[start:end] = True
    return marked


def test_category_positions_follow_the_rule_written_out(tiny_model):
    tokenizer = tiny_model[1]
    text = " Hungary and Hungarian pálinka, fruit-fruit fruits the theory: the coffee.coffee Ravel's"
    tokens = tokenizer.batch_decode([[i] for i in tokenizer(text)["input_ids"]])
    np.testing.assert_array_equal(category_positions(tokens, WORDS), spelled_out_positions(tokens, WORDS))
    assert category_positions(tokens, WORDS).sum() >= 6
    overlapping = [" a", " a", " a", " b"]  # " a a" occurs at tokens 0-1 and 1-2
    np.testing.assert_array_equal(category_positions(overlapping, ["a a"]), [True, True, True, False])
    np.testing.assert_array_equal(category_positions(overlapping, ["a a"]), spelled_out_positions(overlapping, ["a a"]))
    assert not category_positions([" caf", "é"], ["caf"]).any()  # continued by a letter
    assert category_positions([" caf", "é", "!"], ["café"]).tolist() == [True, True, False]


def test_held_out_statistics_equal_those_of_all_tokens_at_once(model, store, vocabulary, evaluated):
    evaluation, latents = evaluated["evaluation"], evaluated["latents"]
    x, strings, _ = heldout(store, vocabulary)
    with torch.no_grad():
        z = model.encode(x)
        x_hat = model.decode(z)
    x64, z64 = x.double().numpy(), z.double().numpy()
    fvu = ((x64 - x_hat.double().numpy()) ** 2).sum() / ((x64 - x64.mean(0)) ** 2).sum()
    row = evaluation.iloc[0]
    assert row["tokens"] == len(x)
    assert row["fvu"] == pytest.approx(fvu, rel=1e-5)
    assert row["l0"] == pytest.approx((z64 != 0).sum(1).mean())
    assert row["dead_fraction"] == pytest.approx(((z64 != 0).sum(0) == 0).mean())
    np.testing.assert_allclose(latents["density"], (z64 != 0).mean(0))
    marked = np.concatenate([category_positions(window, WORDS)[1:] for window in strings])
    assert marked.any()

    def mean_nonzero(values):  # per latent, 0 where it never fires
        counts = (values != 0).sum(0)
        return np.divide(values.sum(0), counts, out=np.zeros(values.shape[1]), where=counts > 0)

    on, off = mean_nonzero(z64[marked]), mean_nonzero(z64[~marked])  # the lecture's score, on every held-out token
    score = np.divide(on, off, out=np.zeros_like(on), where=(on > 0) & (off > 0))
    np.testing.assert_allclose(latents["mean_activation"], mean_nonzero(z64), rtol=1e-6)
    np.testing.assert_allclose(latents["category_score"], score, rtol=1e-6)


def test_top_contexts_are_each_latents_largest_activations(model, store, vocabulary, evaluated):
    contexts = evaluated["top_contexts"]
    x, _, where = heldout(store, vocabulary)
    with torch.no_grad():
        z = model.encode(x).numpy()
    for latent in range(z.shape[1]):
        rows = contexts[contexts["latent"] == latent].sort_values("rank")
        largest = np.sort(z[:, latent][z[:, latent] > 0])[::-1][:3]
        np.testing.assert_allclose(rows["activation"], largest, rtol=1e-6)
        for context in rows.itertuples(index=False):
            token = where.index((context.shard, context.window, context.position))
            assert z[token, latent] == pytest.approx(context.activation, rel=1e-6)
    first = contexts.iloc[0]
    ids = store.token_ids(int(first["shard"]), [int(first["window"])])[0].tolist()
    position = int(first["position"])
    assert first["token"] == vocabulary[ids[position]]
    assert first["before"] == "".join(vocabulary[i] for i in ids[max(position - 3, 0) : position])
    assert first["after"] == "".join(vocabulary[i] for i in ids[position + 1 : position + 3])


def test_a_category_absent_from_the_held_out_windows_is_a_warning_and_zero_scores(model, store, vocabulary, caplog):
    """The held-out windows are first read by the evaluation, so words found nowhere there cannot be a
    start-up error; the job says so in its log, and no latent gets a score."""
    with caplog.at_level("WARNING", logger="interpflow.methods.streaming_sae.evaluation"):
        scores = evaluate(
            model,
            store,
            SITE,
            [2, 3],
            vocabulary,
            {"name": "category", "words": ["tungsten"]},
            top_k=3,
            block_tokens=40,
        )["latents"]
    assert "none of the category words ['tungsten'] occurs in the" in caplog.text
    assert (scores["category_score"] == 0).all()
    caplog.clear()
    with caplog.at_level("WARNING", logger="interpflow.methods.streaming_sae.evaluation"):
        evaluate(model, store, SITE, [2, 3], vocabulary, {"name": "category", "words": WORDS}, top_k=3, block_tokens=40)
    assert "none of the category words" not in caplog.text


def test_activation_histograms_count_each_latents_nonzero_values_between_0_and_its_largest(
    model, store, vocabulary, evaluated
):
    histograms = evaluated["activation_histograms"]
    x, _, _ = heldout(store, vocabulary)
    with torch.no_grad():
        z = model.encode(x).double().numpy()
    fired = np.flatnonzero((z > 0).any(0))
    assert sorted(histograms["latent"].unique()) == fired.tolist() and len(fired) > 1
    for latent in fired:
        rows = histograms[histograms["latent"] == latent].sort_values("bin")
        values = z[:, latent][z[:, latent] > 0]
        counts, edges = np.histogram(values, bins=20, range=(0, values.max()))  # numpy's last bin is closed too
        np.testing.assert_array_equal(rows["count"], counts)
        np.testing.assert_allclose(np.append(rows["low"].to_numpy(), rows["high"].iloc[-1]), edges, rtol=1e-6)


def test_context_activations_shade_every_token_of_each_top_context(model, store, vocabulary, evaluated):
    shading, contexts = evaluated["context_activations"], evaluated["top_contexts"]
    x, _, where = heldout(store, vocabulary)
    with torch.no_grad():
        z = model.encode(x).numpy()
    at = {place: row for row, place in enumerate(where)}
    assert len(shading) > len(contexts)  # whole contexts, not only the activating tokens
    for context in contexts.itertuples(index=False):
        rows = shading[(shading["latent"] == context.latent) & (shading["rank"] == context.rank)].sort_values("offset")
        ids = store.token_ids(int(context.shard), [int(context.window)])[0].tolist()
        expected = [
            offset
            for offset in range(-3, 3)
            if 1 <= context.position + offset < 16  # inside the window, after its BOS
        ]
        assert rows["offset"].tolist() == expected
        for row in rows.itertuples(index=False):
            position = context.position + row.offset
            assert row.token == vocabulary[ids[position]]
            assert row.activation == pytest.approx(
                z[at[(context.shard, context.window, position)], context.latent], rel=1e-6, abs=1e-12
            )
        assert rows.loc[rows["offset"] == 0, "activation"].item() == pytest.approx(context.activation, rel=1e-6)

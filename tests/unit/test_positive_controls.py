"""Positive and negative controls: each method finds an effect planted in a model or in its
activations, and finds nothing where nothing is planted.

Random-weight models show no real effect, so these are what shows that a method's sign, positions
and statistics are right: a sign error or an off-by-one position fails here. The residual
decomposition's control (the identity on perturbed models of every family) is in
``tests/unit/test_architectures.py``.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from interpflow.config import DefaultFillingValidator, load_schema
from interpflow.methods.neuron_contrast import analysis as neuron_contrast
from interpflow.methods.repeated_token_mi import analysis as repeated_token_mi
from interpflow.methods.sparse_autoencoder.analysis import encode_and_evaluate
from interpflow.methods.subspace_removal import analysis as subspace_removal
from interpflow.methods.subspace_removal.interventions import run_interventions
from interpflow.models.loading import vendored_tokenizer
from interpflow.models.sites import block_site, residual_streams
from interpflow.runtime.schema import option_defaults
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.streaming import StreamingSchedule, train_streaming
from interpflow.sae.core.training import train_full_batch
from interpflow.sae.core.variants import build_model
from interpflow.stores.activation_store import ActivationStore
from interpflow.stores.corpus_store import CorpusStore, write_manifest
from interpflow.stores.extraction import extract_activations
from interpflow.stores.tensor_stream import TensorStreamWriter
from tests.conftest import TOKENIZER_DIR
from tests.model_zoo import tiny_model

SCHEMA = load_schema()


def instance(method: str, values: dict) -> dict:
    """An instance of ``method`` with the schema's defaults filled in (as the workflow sees it)."""
    filled = copy.deepcopy(values)
    DefaultFillingValidator({"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{method}"}).validate(filled)
    return filled


def token_table(texts: list[list[str]]) -> pd.DataFrame:
    """The store's token table of texts given as token strings (ids are not read by these methods)."""
    rows = [(text_id, position, 0, token) for text_id, text in enumerate(texts) for position, token in enumerate(text)]
    table = pd.DataFrame(rows, columns=["text_id", "position", "token_id", "token"])
    return table.astype({"text_id": np.int32, "position": np.int32, "token_id": np.int32})


# --- neuron_contrast ------------------------------------------------------------------------------

PLANTED_NEURONS = [7, 40, 41, 123, 200]
FILLER = [" The", " nurse", " met", " quickly", " a", " friend", " near", " town"]


def pronoun_store(seed: int, shift: float, n_sentences: int = 40, n_neurons: int = 256):
    """Sentences whose target (`` him`` in the first half, `` her`` in the second) stands at a random
    position; MLP neurons are noise, and :data:`PLANTED_NEURONS` gain ``shift`` at the first group's
    target token only."""
    rng = np.random.default_rng(seed)
    texts, groups, target_rows = [], [], []
    for index in range(n_sentences):
        group, target = ("objective_him", " him") if index < n_sentences // 2 else ("objective_her", " her")
        before, after = rng.integers(1, 5), rng.integers(1, 4)
        texts.append([*rng.choice(FILLER, before), target, *rng.choice(FILLER, after), "."])
        groups.append(group)
    tokens = token_table(texts)
    activations = rng.normal(size=(len(tokens), n_neurons)).astype(np.float32)
    for text_id, text in enumerate(texts):
        if groups[text_id] == "objective_him":
            target_rows.append(np.flatnonzero(tokens["text_id"] == text_id)[text.index(" him")])
    activations[np.ix_(target_rows, PLANTED_NEURONS)] += shift
    store = ActivationStore(tokens, {"blocks.0.mlp.hook_pre": activations})
    return store, ["".join(text) for text in texts], groups


NC_INSTANCE = {
    "models": ["m"],
    "text": "pronouns",
    "groups": [{"group": "objective_him", "target": " him"}, {"group": "objective_her", "target": " her"}],
    "tsne": {"perplexity": 2},
}


def test_neuron_contrast_finds_the_neurons_planted_at_one_groups_target():
    store, sentences, groups = pronoun_store(seed=0, shift=4.0)
    results = neuron_contrast.analyse(store, sentences, groups, instance("neuron_contrast", NC_INSTANCE), n_layer=1)
    tests = results["neuron_tests"]
    assert tests.loc[tests["significant"], "neuron"].tolist() == PLANTED_NEURONS
    assert (tests.loc[PLANTED_NEURONS, "t_statistic"] > 5).all(), "first group minus second: positive t"
    assert sorted(results["neuron_clusters"]["neuron"]) == PLANTED_NEURONS


def test_neuron_contrast_finds_nothing_beyond_the_nominal_rate_where_nothing_is_planted():
    """Over 10 unplanted data sets: Bonferroni leaves at most a stray neuron (family-wise rate 5% per
    set), and the uncorrected p-values fall below 0.05 for about 5% of the neurons."""
    significant, p_values = 0, []
    for seed in range(10):
        store, sentences, groups = pronoun_store(seed=seed, shift=0.0)
        results = neuron_contrast.analyse(store, sentences, groups, instance("neuron_contrast", NC_INSTANCE), 1)
        significant += int(results["neuron_tests"]["significant"].sum())
        p_values.append(results["neuron_tests"]["p_value"].to_numpy())
    assert significant <= 2
    assert 0.03 < np.mean(np.concatenate(p_values) < 0.05) < 0.07


# --- subspace_removal -----------------------------------------------------------------------------

PLANTED_LAYER = 1
READ_NEURONS = 16


def readout_model() -> tuple[torch.nn.Module, str]:
    """A 3-block GPT-2 whose only written update is block 1's MLP: 16 neurons share one large constant
    direction (the top singular component of the block's neurons), and the output projection writes
    it onto the embeddings of the text's two tokens, raising their next-token probability. Every other
    neuron varies with the token but writes nothing, and no other block writes anything."""
    tokenizer = vendored_tokenizer(TOKENIZER_DIR)
    text = " cat dog" * 12
    model = tiny_model("gpt2", False, spec={"n_positions": 64})
    blocks = model.transformer.h
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for block in blocks:
            for param in (
                block.attn.c_proj.weight,
                block.attn.c_proj.bias,
                block.mlp.c_proj.weight,
                block.mlp.c_proj.bias,
            ):
                param.zero_()
        for block in blocks:  # token-dependent neurons everywhere
            block.mlp.c_fc.weight.copy_(0.02 * torch.randn(block.mlp.c_fc.weight.shape, generator=generator))
        mlp = blocks[PLANTED_LAYER].mlp
        mlp.c_fc.weight[:, :READ_NEURONS] = 0
        mlp.c_fc.bias[:READ_NEURONS] = 2.0
        ids = tokenizer.encode(" cat dog")
        readout = model.transformer.wte.weight[ids].sum(0)
        mlp.c_proj.weight[:READ_NEURONS] = 0.01 * readout / readout.norm()
    return model.eval(), text


@pytest.mark.parametrize("engine", ["cached", "reference"])
def test_subspace_removal_finds_the_direction_the_prediction_reads(engine):
    """Removing block 1's top component lowers the next tokens' log-probability at every position
    (delta = clean - intervened > 0, large t); at blocks 0 and 2 the top component has no
    downstream use, and removing it moves nothing."""
    model, text = readout_model()
    tokenizer = vendored_tokenizer(TOKENIZER_DIR)
    tokenizer.pad_token = tokenizer.eos_token
    n_layer = 3
    neuron_sites = [block_site(layer, hook) for layer in range(n_layer) for hook in ("mlp.hook_pre", "hook_attn_out")]
    store = extract_activations(model, tokenizer, [text], residual_streams(n_layer) + neuron_sites)
    runs = run_interventions(model, store, list(range(n_layer)), 1, engine=engine)
    impact = subspace_removal.logit_impact_table(runs, store.tokens)
    variance = {
        layer: subspace_removal.top_component_variance_pct(store[block_site(layer, "mlp.hook_pre")])
        for layer in range(n_layer)
    }
    sweep = subspace_removal.layer_sweep_table(impact, variance).set_index("layer")
    planted = impact[impact["intervention_layer"] == PLANTED_LAYER]["delta_logprob"]
    assert (planted > 0.01).all() and sweep.loc[PLANTED_LAYER, "t_statistic"] > 10
    assert variance[PLANTED_LAYER] > 90, "the planted direction is the top component"
    for layer in (0, 2):
        assert impact[impact["intervention_layer"] == layer]["delta_logprob"].abs().max() < 1e-5


# --- repeated_token_mi ----------------------------------------------------------------------------


def repeated_token_store(length_scale: float = 12.0, width: int = 256, seed: int = 0):
    """One text with 12 occurrences of `` coffee`` at irregular distances. At block 0's attention
    update the occurrences' vectors are a Gaussian process over position (per dimension, covariance
    ``exp(-distance / length_scale)``), so the information two of them share decays with distance:
    ``MI = -log(1 - r²) / 2`` nats for ``r = exp(-distance / length_scale)``. At its MLP update they
    are independent."""
    rng = np.random.default_rng(seed)
    positions = np.cumsum(rng.integers(2, 9, size=12))
    tokens = [" cup"] * (positions[-1] + 3)
    for position in positions:
        tokens[position] = " coffee"
    distances = np.abs(positions[:, None] - positions[None, :])
    covariance = np.exp(-distances / length_scale)
    correlated = np.linalg.cholesky(covariance) @ rng.normal(size=(len(positions), width))
    attn = rng.normal(size=(len(tokens), width))
    attn[positions] = correlated
    mlp = rng.normal(size=(len(tokens), width))
    arrays = {"blocks.0.hook_attn_out": attn.astype(np.float32), "blocks.0.hook_mlp_out": mlp.astype(np.float32)}
    return ActivationStore(token_table([tokens]), arrays), length_scale


def test_repeated_token_mi_shows_information_decaying_with_distance_and_none_between_independent_vectors():
    store, length_scale = repeated_token_store()
    settings = instance("repeated_token_mi", {"models": ["m"], "text": "t", "target": " coffee", "layer": 0})
    positions = repeated_token_mi.find_targets(store, " coffee")
    pairs = repeated_token_mi.pairwise_mi_table(store, positions, 1, settings)
    summary = repeated_token_mi.layer_summary(pairs).set_index(["sublayer", "estimator"])
    for estimator in repeated_token_mi.ESTIMATORS:
        assert summary.loc[("attn", estimator), "kendall_tau"] < -0.5, estimator
        assert summary.loc[("attn", estimator), "kendall_p"] < 1e-6, estimator
        assert summary.loc[("mlp", estimator), "kendall_p"] > 0.01, estimator
    knn = pairs[pairs["estimator"] == "knn"]
    planted, independent = knn[knn["sublayer"] == "attn"], knn[knn["sublayer"] == "mlp"]
    truth = -0.5 * np.log(1 - np.exp(-2 * planted["distance"] / length_scale))
    assert np.abs(planted["mi"] - truth).mean() < 0.1, "the kNN estimate follows the closed form (nats)"
    assert abs(independent["mi"].mean()) < 0.05
    # the histogram estimator is biased upwards (about 0.45 bits at 256 samples and 15 bins): compare
    # the pairs within the length scale with the independent ones
    histogram = pairs[pairs["estimator"] == "histogram"]
    near = histogram[(histogram["sublayer"] == "attn") & (histogram["distance"] <= length_scale)]["mi"].mean()
    assert near > histogram[histogram["sublayer"] == "mlp"]["mi"].mean() + 0.15


# --- the SAEs: the standard synthetic benchmark ---------------------------------------------------

N_FEATURES, WIDTH, PER_TOKEN = 64, 32, 3


def sparse_features(n_tokens: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``(directions, activations)``: 64 random unit feature directions in 32 dimensions (more
    features than dimensions), and tokens that are each the sum of 3 of them with magnitudes in
    [0.5, 1.5)."""
    generator = torch.Generator().manual_seed(10_000 + seed)  # apart from the SAEs' own init seeds
    directions = torch.randn(N_FEATURES, WIDTH, generator=generator)
    directions /= directions.norm(dim=1, keepdim=True)
    chosen = torch.rand(n_tokens, N_FEATURES, generator=generator).argsort(dim=1)[:, :PER_TOKEN]
    magnitudes = 0.5 + torch.rand(n_tokens, PER_TOKEN, generator=generator)
    codes = torch.zeros(n_tokens, N_FEATURES).scatter(1, chosen, magnitudes)
    return directions, codes @ directions


def mean_max_cosine(decoder: torch.Tensor, directions: torch.Tensor) -> float:
    """For each true direction the best cosine similarity with a decoder row, averaged."""
    unit = decoder / decoder.norm(dim=1, keepdim=True)
    return float((directions @ unit.T).max(dim=1).values.mean())


def synthetic_corpus_store(folder, activations: torch.Tensor, site: str, context: int = 128, n_shards: int = 4):
    """The activations as a sharded corpus store (window w in shard w mod n), as the shard stage writes it."""
    windows = activations.reshape(-1, context, activations.shape[1])
    paths = []
    for shard in range(n_shards):
        rows = windows[shard::n_shards]
        path = folder / f"shard-{shard}.safetensors"
        tensors = {site: ("F32", tuple(rows.shape)), "token_ids": ("I32", (len(rows), context))}
        with TensorStreamWriter(path, tensors, {}) as writer:
            writer.write(site, rows)
            writer.write("token_ids", np.zeros((len(rows), context), dtype=np.int32))
        paths.append(path)
    write_manifest(paths, folder / "manifest.json", {"name": "synthetic"}, {"name": "synthetic", "prepend_bos": False})
    return CorpusStore(folder / "manifest.json")


def test_streaming_topk_sae_recovers_the_planted_features(tmp_path):
    site = "blocks.0.hook_resid_pre"
    directions, activations = sparse_features(4 * 8 * 128)
    store = synthetic_corpus_store(tmp_path, activations, site)
    config = SAEConfig("topk", site, WIDTH, 2 * N_FEATURES, PER_TOKEN, 0.0, 0.0, learning_rate=4e-3, seed=0)
    schedule = StreamingSchedule(batch_tokens=256, buffer_tokens=4096, token_budget=200_000, checkpoint_every=10**9)
    model, log = train_streaming(store, config, schedule)
    untrained = build_model(config)
    assert mean_max_cosine(model.W_dec.detach(), directions) >= 0.9
    assert mean_max_cosine(untrained.W_dec.detach(), directions) < 0.6
    assert log["fvu"].iloc[-1] < 0.1


def test_lecture_ksparse_sae_recovers_the_planted_features():
    """The lecture's tied k-sparse SAE (its L1 and decorrelation terms at their defaults), full batch."""
    directions, activations = sparse_features(2048)
    lecture = option_defaults("sparse_autoencoder.sae")
    config = SAEConfig(
        "tied_ksparse",
        "blocks.0.mlp.hook_pre",
        WIDTH,
        2 * N_FEATURES,
        PER_TOKEN,
        lecture["l1_weight"],
        lecture["decorrelation_weight"],
        learning_rate=1e-2,
        seed=lecture["seed"],
    )
    model, _ = train_full_batch(activations.numpy(), config, 500)
    untrained = build_model(config)
    assert mean_max_cosine(model.W_enc.detach(), directions) >= 0.9
    assert mean_max_cosine(untrained.W_enc.detach(), directions) < 0.6
    _, evaluation = encode_and_evaluate(model, activations.numpy())
    assert evaluation["fvu"].iloc[0] < 0.2

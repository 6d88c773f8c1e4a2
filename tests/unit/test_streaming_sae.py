"""Streaming SAE training: the two variants against their definitions, the data order, and resume."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.streaming import StreamingSchedule, minibatches, streaming_configs, token_rows, train_streaming
from interpflow.sae.core.tied_ksparse import decorrelation_penalty_covariance
from interpflow.sae.core.topk import TopKAutoencoder
from interpflow.sae.core.variants import VARIANTS, Variant, build_model, loss_terms
from interpflow.sae.files import load_sae, save_sae
from interpflow.stores.corpus_store import CorpusStore

SITE = "blocks.1.hook_resid_pre"


@pytest.fixture(scope="module")
def store(tiny_corpus):
    return CorpusStore(tiny_corpus[1] / "manifest.json")


SAE_OPTIONS = {field.name for field in dataclasses.fields(SAEConfig)}


def config(**options) -> tuple[SAEConfig, StreamingSchedule]:
    """A small run: the SAE and its schedule (schedule options left out take the schema's defaults)."""
    values = dict(
        variant="topk",
        site=SITE,
        input_dim=32,
        latent_dim=64,
        k=4,
        l1_weight=0.0,
        decorrelation_weight=0.0,
        learning_rate=1e-3,
        seed=0,
        batch_tokens=30,
        buffer_tokens=64,
        token_budget=30 * 60,
        log_every=5,
        checkpoint_every=10,
    )
    values.update(options)
    sae = SAEConfig(**{key: value for key, value in values.items() if key in SAE_OPTIONS})
    return sae, StreamingSchedule(**{key: value for key, value in values.items() if key not in SAE_OPTIONS})


def train(store, run, **options):
    return train_streaming(store, *run, **options)


def test_topk_encodes_k_largest_of_the_shifted_affine_map():
    model = build_model(config()[0])
    torch.nn.init.normal_(model.b_pre)
    torch.nn.init.normal_(model.b_enc)
    x = torch.randn(20, 32)
    z = model.encode(x)
    pre = torch.relu((x - model.b_pre) @ model.W_enc.T + model.b_enc).detach().numpy()
    reference = np.zeros_like(pre)
    for row, values in enumerate(pre):
        top = np.argsort(values)[-4:]
        reference[row, top] = values[top]
    np.testing.assert_allclose(z.detach().numpy(), reference, rtol=1e-6)
    assert ((z != 0).sum(1) <= 4).all()
    x_hat = model.decode(z)
    torch.testing.assert_close(x_hat, z @ model.W_dec + model.b_pre)


def test_topk_decoder_rows_stay_unit_norm_through_training(store):
    model, log = train(store, config(token_budget=30 * 20))
    assert isinstance(model, TopKAutoencoder)
    torch.testing.assert_close(model.W_dec.norm(dim=1), torch.ones(64))
    assert (log["l0"] <= 4).all()


def test_tied_variant_adds_l1_and_the_decorrelation_in_gram_form():
    tied = config(variant="tied_ksparse", latent_dim=96, k=10, l1_weight=0.5, decorrelation_weight=0.01)
    model = build_model(tied[0])
    x = torch.randn(40, 32)
    terms, fired = loss_terms(model, x)
    x_hat, z = model(x)  # the full forward: every latent, the covariance form as the reference
    mse = ((x_hat - x) ** 2).mean()
    expected = mse + 0.5 * z.abs().sum() / (40 * 96) + 0.01 * decorrelation_penalty_covariance(z)
    torch.testing.assert_close(terms["loss"], expected, rtol=1e-5, atol=1e-7)
    assert torch.equal(fired, (z != 0).any(0)) and terms["l0"] == (z != 0).sum(1).float().mean()


def test_each_epoch_sees_every_training_token_once_and_no_held_out_token(store):
    run = config(batch_tokens=15, buffer_tokens=32)  # fills of 2 windows = 30 tokens = 2 minibatches
    train_tokens = torch.cat(
        [token_rows(store.activations(SITE, s, np.arange(store.windows(s))), True) for s in range(3)]
    )
    per_epoch = len(train_tokens) // 15
    seen = torch.cat([batch for _, batch in zip(range(per_epoch), minibatches(store, *run), strict=False)])
    assert len(seen) == len(train_tokens)
    key = lambda rows: sorted(map(tuple, rows.numpy().round(6).tolist()))  # noqa: E731
    assert key(seen) == key(train_tokens)


def test_the_data_order_depends_on_the_seed_and_resumes_at_any_step(store):
    first = [batch for _, batch in zip(range(12), minibatches(store, *config()), strict=False)]
    again = [batch for _, batch in zip(range(12), minibatches(store, *config()), strict=False)]
    other = next(minibatches(store, *config(seed=1)))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other)
    for start in (1, 5, 7):
        resumed = [batch for _, batch in zip(range(12 - start), minibatches(store, *config(), start), strict=False)]
        assert all(torch.equal(a, b) for a, b in zip(first[start:], resumed, strict=True))


class Killed(Exception):
    pass


@pytest.mark.parametrize("variant", ["topk", "batchtopk", "tied_ksparse"])
def test_a_run_killed_mid_training_resumes_to_the_same_weights(store, tmp_path, variant):
    """Everything a step depends on resumes: weights, Adam, dead-latent counters (AuxK reads them) and
    BatchTopK's threshold."""
    options = {"auxk_coefficient": 0.25, "k_aux": 8, "dead_after_tokens": 60} if variant != "tied_ksparse" else {}
    run = config(variant=variant, k=12 if variant == "tied_ksparse" else 4, **options)
    uninterrupted, uninterrupted_log = train(store, run)

    def kill_at_37(step):
        if step == 37:
            raise Killed

    checkpoint = tmp_path / "checkpoint.safetensors"
    with pytest.raises(Killed):
        train(store, run, checkpoint=checkpoint, after_step=kill_at_37)
    assert checkpoint.is_file()
    steps_run = []
    resumed, resumed_log = train(store, run, checkpoint=checkpoint, after_step=steps_run.append)
    assert steps_run[0] == 31  # from the checkpoint at step 30
    for name, value in uninterrupted.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name
    assert resumed_log.equals(uninterrupted_log)


def test_a_checkpoint_of_another_run_is_not_resumed(store, tmp_path):
    checkpoint = tmp_path / "checkpoint.safetensors"
    with pytest.raises(Killed):
        train(
            store,
            config(),
            checkpoint=checkpoint,
            after_step=lambda step: (_ for _ in ()).throw(Killed) if step == 25 else None,
        )
    steps_run = []
    train(store, config(learning_rate=2e-3), checkpoint=checkpoint, after_step=steps_run.append)
    assert steps_run[0] == 1


def test_the_training_log_reports_the_minibatch_fvu_l0_and_dead_fraction(store):
    """The row of step 10 describes step 10's minibatch under the weights before its update (step 9's)."""
    run = config(token_budget=30 * 10, log_every=10, dead_after_tokens=10**6)
    _, log = train(store, run)
    before, _ = train(store, config(token_budget=30 * 9, log_every=10, dead_after_tokens=10**6))
    x = list(zip(range(10), minibatches(store, *run), strict=False))[-1][1]
    with torch.no_grad():
        x_hat, z = before(x)
    fvu = float(((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
    assert log[["step", "tokens"]].values.tolist() == [[10, 300]]
    assert log["fvu"].iloc[0] == pytest.approx(fvu, rel=1e-5)
    assert log["mse"].iloc[0] == pytest.approx(float(((x - x_hat) ** 2).mean()), rel=1e-5)
    assert log["l0"].iloc[0] == pytest.approx(float((z != 0).sum(1).float().mean()))
    assert log["dead_fraction"].iloc[0] == 0  # nothing is dead before dead_after_tokens tokens
    _, all_dead = train(store, config(token_budget=30 * 10, log_every=10, dead_after_tokens=1, k=1, latent_dim=64))
    assert all_dead["dead_fraction"].iloc[0] > 0.5  # fewer than half the latents fire in the last minibatch


@pytest.mark.parametrize("variant", ["topk", "batchtopk", "tied_ksparse"])
def test_saved_weights_load_to_the_same_model(store, tmp_path, variant):
    """One save format for every variant: the weights under their parameter names, the config beside them."""
    sae, schedule = run = config(variant=variant, token_budget=30 * 5)
    model, _ = train(store, run)
    weights, record = tmp_path / "sae.safetensors", tmp_path / "sae_config.json"
    save_sae(model, sae, weights, record, schedule.to_dict(), instance="demo", model="embedded")
    loaded, loaded_config = load_sae(weights)
    assert loaded_config == sae
    saved = load_file(weights)
    topk = {"W_enc", "b_enc", "W_dec", "b_pre"}
    batchtopk = topk | {"threshold", "threshold_steps"}
    assert set(saved) == dict(topk=topk, batchtopk=batchtopk, tied_ksparse={"W_enc"})[variant]
    for name, value in saved.items():
        assert torch.equal(loaded.state_dict()[name], value)
    assert json.loads(record.read_text()) == {
        "sae": sae.to_dict(),
        "training": schedule.to_dict(),
        "instance": "demo",
        "model": "embedded",
    }


def test_streaming_configs_split_the_options_into_the_sae_and_its_schedule():
    options = {"variant": "topk", "latent_factor": 4, "k": 8, "l1_weight": 1.0, "decorrelation_weight": 0.0}
    options |= {"learning_rate": 1e-3, "seed": 2, "batch_tokens": 64, "token_budget": 640}
    sae, schedule = streaming_configs(SITE, 32, options)
    assert (sae.latent_dim, sae.k, sae.seed, sae.site) == (128, 8, 2, SITE)
    assert (schedule.batch_tokens, schedule.steps) == (64, 10)
    with pytest.raises(ValueError, match="unknown SAEConfig keys"):
        SAEConfig.from_dict({**sae.to_dict(), "epochs": 3})


def test_a_buffer_smaller_than_a_minibatch_is_an_error_not_a_hang(store):
    with pytest.raises(ValueError, match="raise sae.buffer_tokens or lower sae.batch_tokens"):
        next(minibatches(store, *config(batch_tokens=64, buffer_tokens=32)))


def test_a_variant_registered_by_name_trains_through_the_same_loop(store, monkeypatch):
    """The trainer knows variants only through :data:`VARIANTS`: a new entry (here a TopK SAE whose
    decoder is left free) trains, saves and loads with no change to the trainer."""
    calls = []

    def free_decoder(model):
        calls.append("gradient")

    free = Variant(VARIANTS["topk"].build, VARIANTS["topk"].loss_terms, constrain_gradient=free_decoder)
    monkeypatch.setitem(VARIANTS, "topk_free_decoder", free)
    model, log = train(store, config(variant="topk_free_decoder", token_budget=30 * 20))
    assert calls == ["gradient"] * 20 and len(log) > 0
    assert not torch.allclose(model.W_dec.norm(dim=1), torch.ones(64))  # no renormalization ran
    reference, _ = train(store, config(token_budget=30 * 20))
    torch.testing.assert_close(reference.W_dec.norm(dim=1), torch.ones(64))


def test_an_unknown_variant_names_the_registered_ones():
    with pytest.raises(ValueError, match="one of topk, batchtopk, tied_ksparse"):
        config(variant="gated")

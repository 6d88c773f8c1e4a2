"""The lecture's tied k-sparse SAE, the full-batch trainer and the shared SAE metrics, against direct computations."""

import functools

import numpy as np
import pandas as pd
import pytest
import torch

from interpflow.methods.sparse_autoencoder import analysis as sae_analysis
from interpflow.runtime.schema import option_defaults
from interpflow.sae.core import tied_ksparse
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.tied_ksparse import (
    KSparseAutoencoder,
    decorrelation_penalty,
    decorrelation_penalty_covariance,
    decorrelation_penalty_gram,
    loss_terms,
)
from interpflow.sae.core.training import LOG_COLUMNS, train_full_batch
from interpflow.sae.core.variants import Variant
from interpflow.sae.evaluation.metrics import LatentStatistics, ReconstructionStatistics
from interpflow.stores.word_categories import category_positions


def toy_data(n_tokens=64, width=24, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n_tokens, 4)) @ rng.normal(size=(4, width)) + 0.1 * rng.normal(size=(n_tokens, width))
    ).astype(np.float32)


def lecture_config(input_dim, latent_dim, k, **overrides) -> SAEConfig:
    """The lecture's SAE at the schema's defaults, with ``overrides``."""
    defaults = option_defaults("sparse_autoencoder.sae")
    options = {name: defaults[name] for name in ("l1_weight", "decorrelation_weight", "learning_rate", "seed")}
    site = "blocks.0.mlp.hook_pre"
    return SAEConfig("tied_ksparse", site, input_dim, latent_dim, k, **(options | overrides))


def model_for(x, k=8, **overrides):
    config = lecture_config(x.shape[1], 2 * x.shape[1], k, **overrides)
    torch.manual_seed(0)
    return KSparseAutoencoder(config)


def test_exactly_k_latents_per_token():
    x = toy_data()
    z = model_for(x, k=8).encode(torch.from_numpy(x))
    assert ((z != 0).sum(dim=1) == 8).all()
    assert (z >= 0).all()


def test_kept_latents_are_the_k_largest_and_ties_at_the_kth_are_kept():
    model = model_for(np.zeros((1, 3), np.float32), k=2)
    with torch.no_grad():
        model.W_enc.copy_(torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [-1, 0, 0], [0, 0, 0.5]]))
    z = model.encode(torch.tensor([[3.0, 2.0, 1.0]]))
    # pre-activations 3, 2, 1, 2, -3, 0.5: the k-th largest is 2, and both 2s are kept (as in the seed)
    assert z.tolist() == [[3.0, 2.0, 0.0, 2.0, 0.0, 0.0]]


def test_decoder_is_the_transposed_encoder():
    x = torch.from_numpy(toy_data())
    model = model_for(x.numpy())
    x_hat, z = model(x)
    torch.testing.assert_close(x_hat, z @ model.W_enc)
    assert [name for name, _ in model.named_parameters()] == ["W_enc"]


def test_each_loss_term_against_a_direct_computation():
    x = torch.from_numpy(toy_data())
    model = model_for(x.numpy(), l1_weight=0.7, decorrelation_weight=0.01)
    terms, fired = loss_terms(model, x)
    x_hat, z = model(x)
    assert torch.equal(fired, (z != 0).any(0)) and terms["l0"] == (z != 0).sum(1).float().mean()
    z_np = z.detach().double().numpy()
    covariance = np.cov(z_np, rowvar=False)
    off_diagonal = covariance - np.diag(np.diag(covariance))
    assert terms["mse"].item() == pytest.approx(torch.nn.functional.mse_loss(x_hat, x).item())
    assert terms["l1"].item() == pytest.approx(0.7 * np.abs(z_np).mean(), rel=1e-5)
    assert terms["decorrelation"].item() == pytest.approx(0.01 * (off_diagonal**2).sum(), rel=1e-4)
    assert decorrelation_penalty(z).item() == pytest.approx((off_diagonal**2).sum(), rel=1e-4)
    assert terms["loss"].item() == pytest.approx(sum(terms[k].item() for k in ("mse", "l1", "decorrelation")))


def sparse_latents(n_tokens, n_latents, k, dtype, seed=0):
    """Latents shaped like an SAE's: non-negative, k non-zero per token, a few latents shared widely."""
    generator = torch.Generator().manual_seed(seed)
    pre = torch.randn(n_tokens, n_latents, generator=generator, dtype=torch.float64)
    pre[:, :5] += 2.0  # common latents make the covariance far from diagonal
    kth = pre.topk(k, dim=1).values[:, -1:]
    return (torch.relu(pre) * (pre >= kth)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("n_tokens", "n_latents"), [(40, 300), (120, 60)])
def test_gram_form_equals_the_covariance_form_in_value_and_gradient(dtype, n_tokens, n_latents):
    z = sparse_latents(n_tokens, n_latents, k=n_latents // 3, dtype=dtype)
    values, gradients = [], []
    for penalty in (decorrelation_penalty_covariance, decorrelation_penalty_gram):
        leaf = z.clone().requires_grad_(True)
        value = penalty(leaf)
        value.backward()
        values.append(value.detach())
        gradients.append(leaf.grad)
    reference = np.cov(z.double().numpy(), rowvar=False)
    expected = (reference**2).sum() - (np.diag(reference) ** 2).sum()
    assert values[0].item() == pytest.approx(expected, rel=1e-5)
    assert values[1].item() == pytest.approx(expected, rel=1e-5)
    scale = gradients[0].abs().max()
    torch.testing.assert_close(gradients[1] / scale, gradients[0] / scale, rtol=1e-5, atol=1e-5)


def test_penalty_takes_the_smaller_space():
    wide, tall = sparse_latents(10, 50, 5, torch.float64), sparse_latents(50, 10, 3, torch.float64)
    assert decorrelation_penalty(wide).item() == decorrelation_penalty_gram(wide).item()
    assert decorrelation_penalty(tall).item() == decorrelation_penalty_covariance(tall).item()


def data_with_idle_latents():
    """Toy activations with a large shared direction, so that some latents fire for no token."""
    x = toy_data(seed=1)
    return x + 3.0 * np.abs(x).mean() * np.linspace(-1.0, 1.0, x.shape[1], dtype=np.float32)


def test_active_latent_forward_gives_the_dense_values_and_gradients():
    x = torch.from_numpy(data_with_idle_latents())
    model = model_for(x.numpy(), k=12, l1_weight=0.7, decorrelation_weight=0.01)
    with torch.no_grad():
        idle = int(((model.encode(x) != 0).sum(dim=0) == 0).sum())
    assert 0 < idle < model.config.latent_dim  # both kinds of latent take part
    values, gradients = [], []
    for active_only in (False, True):
        model.zero_grad()
        terms, _ = loss_terms(model, x, active_only=active_only)
        terms["loss"].backward()
        values.append({name: term.item() for name, term in terms.items() if name != "x_hat"})
        gradients.append(model.W_enc.grad.clone())
    for name, dense in values[0].items():
        assert values[1][name] == pytest.approx(dense, rel=1e-5), name
    scale = gradients[0].abs().max()
    torch.testing.assert_close(gradients[1] / scale, gradients[0] / scale, rtol=1e-5, atol=1e-6)


def test_training_over_active_latents_follows_the_dense_loss_curve():
    x = data_with_idle_latents()
    config = lecture_config(24, 48, 12, learning_rate=1e-2, seed=3)
    dense_terms = Variant(tied_ksparse.build, functools.partial(loss_terms, active_only=False))
    _, dense = train_full_batch(x, config, 30, variant_override=dense_terms)
    _, active = train_full_batch(x, config, 30)
    pd.testing.assert_frame_equal(active, dense, rtol=1e-4, atol=0)


def test_full_batch_training_lowers_the_loss_is_deterministic_and_logs_the_shared_columns():
    x = toy_data()
    config = lecture_config(24, 48, 8, learning_rate=1e-2, seed=3)
    model, log = train_full_batch(x, config, 60)
    assert list(log.columns) == LOG_COLUMNS
    assert log["step"].tolist() == list(range(1, 61)) and log["tokens"].tolist() == [64 * s for s in range(1, 61)]
    assert log["loss"].iloc[-1] < 0.5 * log["loss"].iloc[0]
    assert (log["l0"] == 8).all()  # no ties among the pre-activations of random data
    np.testing.assert_allclose(log["loss"], log["mse"] + log["l1"] + log["decorrelation"], rtol=1e-6)
    _, again = train_full_batch(x, config, 60)
    pd.testing.assert_frame_equal(log, again, check_exact=True)
    assert not model.training


def test_the_first_log_row_describes_the_initial_model_on_all_tokens():
    x = toy_data()
    config = lecture_config(24, 48, 8, learning_rate=1e-2, seed=3)
    _, log = train_full_batch(x, config, 1)
    initial = tied_ksparse.build(config)
    with torch.no_grad():
        x_hat, z = initial(torch.from_numpy(x))
    fvu = ((x - x_hat.numpy()) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    assert log["fvu"].iloc[0] == pytest.approx(fvu, rel=1e-5)
    assert log["dead_fraction"].iloc[0] == pytest.approx(((z != 0).sum(0) == 0).float().mean().item())


def test_reconstruction_statistics_against_a_direct_computation_and_any_block_size():
    rng = np.random.default_rng(4)
    x, x_hat = rng.normal(2.0, 1.5, size=(60, 5)), rng.normal(2.0, 1.5, size=(60, 5))
    z = np.maximum(rng.normal(size=(60, 7)), 0)
    z[:, 3] = 0  # a dead latent
    expected = {
        "tokens": 60,
        "fvu": ((x - x_hat) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum(),  # about the mean, not zero
        "mse": ((x - x_hat) ** 2).sum(1).mean(),  # per token, summed over the dimensions (SAELens 6)
        "l0": (z != 0).sum(1).mean(),
        "dead_fraction": 1 / 7,
    }
    for block in (60, 7, 1):  # the same numbers whatever the evaluation batch
        statistics = ReconstructionStatistics(5, 7)
        for start in range(0, 60, block):
            rows = slice(start, start + block)
            statistics.add(*(torch.from_numpy(a[rows]) for a in (x, x_hat, z)))
        row = statistics.table().iloc[0]
        for name, value in expected.items():
            assert row[name] == pytest.approx(value, rel=1e-12), (block, name)


def test_latent_statistics_by_hand_and_split_into_blocks():
    latents = np.array([[0.0, 2.0, 1.0], [0.0, 4.0, 0.0], [0.0, 0.0, 3.0], [0.0, 6.0, 0.0]])
    is_target = np.array([True, True, False, False])
    whole = LatentStatistics(3)
    whole.add(torch.from_numpy(latents), torch.from_numpy(is_target))
    halves = LatentStatistics(3)
    for rows in (slice(0, 1), slice(1, 4)):
        halves.add(torch.from_numpy(latents[rows]), torch.from_numpy(is_target[rows]))
    pd.testing.assert_frame_equal(whole.table("geo"), halves.table("geo"))
    scores = sae_analysis.latent_scores(latents, is_target, "geo")
    pd.testing.assert_frame_equal(scores, whole.table("geo"))
    assert list(scores.columns) == ["latent", "density", "mean_activation", "geo_score"]
    np.testing.assert_allclose(scores["density"], [0, 0.75, 0.5])
    np.testing.assert_allclose(scores["mean_activation"], [0, 4, 2])
    # latent 1: target mean (2+4)/2 = 3, other tokens 6 -> 0.5; latent 2: 1 / 3; latent 0: none -> 0
    np.testing.assert_allclose(scores["geo_score"], [0, 0.5, 1 / 3])


def test_category_positions_match_whole_words_with_their_space():
    tokens = ["Pal", "inka", " in", " Hungary", " and", " Trans", "yl", "vania", ",", " Hungary", "an"]
    marked = category_positions(tokens, ["Hungary", "Transylvania", "Austria"])
    assert np.flatnonzero(marked).tolist() == [3, 5, 6, 7]  # " Hungary" + "an" is another word


def test_ranked_latents():
    scores = pd.DataFrame({"latent": [0, 1, 2, 3], "density": [0.05, 0.5, 0.2, 0.5]})
    assert [sae_analysis.ranked(scores, "density", r) for r in range(4)] == [1, 3, 2, 0]
    with pytest.raises(ValueError, match="rank 4 is out of range: there are 4 latents"):
        sae_analysis.ranked(scores, "density", 4)


@pytest.mark.parametrize(
    ("variant", "sparse"), [("tied_ksparse", None), ("topk", False), ("topk", True), ("batchtopk", None)]
)
def test_bfloat16_training_keeps_float32_weights_and_follows_the_float32_loss(variant, sparse, monkeypatch):
    """``sae.dtype: bfloat16``: the products under autocast (each variant's own backward too, the sparse
    TopK step's included), the weights and Adam float32, and the loss curve within bfloat16's rounding of
    float32's; the two really differ."""
    from interpflow.sae.core import topk
    from interpflow.sae.core.variants import VARIANTS

    if sparse is not None:  # force the step the trainer would pick by shape
        base = VARIANTS["topk"]
        monkeypatch.setitem(
            VARIANTS,
            "topk",
            Variant(
                base.build,
                functools.partial(topk.loss_terms, sparse=sparse),
                base.constrain_gradient,
                base.constrain_weights,
            ),
        )
    x = toy_data(n_tokens=256, width=32)
    config = SAEConfig(variant, "blocks.0.hook_resid_pre", 32, 128, 8, 0.0, 0.0, 1e-3, 0)
    runs = {dtype: train_full_batch(x, config, epochs=40, dtype=dtype) for dtype in ("float32", "bfloat16")}
    model, log = runs["bfloat16"]
    assert all(parameter.dtype == torch.float32 for parameter in model.parameters())
    assert np.isfinite(log["loss"]).all() and log["loss"].iloc[-1] < 0.5 * log["loss"].iloc[0]
    reference = runs["float32"][1]["loss"].to_numpy()
    assert np.allclose(log["loss"], reference, rtol=0.05) and not np.array_equal(log["loss"], reference)


@pytest.mark.parametrize("fast", [True, False])
def test_bfloat16_training_on_a_cpu_without_its_instructions_says_so_once(monkeypatch, caplog, fast):
    import interpflow.sae.core.training as training

    monkeypatch.setattr(training, "has_fast_half_precision", lambda device, dtype: fast)
    config = SAEConfig("topk", "blocks.0.hook_resid_pre", 24, 48, 4, 0.0, 0.0, 1e-3, 0)
    with caplog.at_level("WARNING", logger=training.__name__):
        train_full_batch(toy_data(), config, epochs=3, dtype="bfloat16")
    warned = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warned) == (0 if fast else 1) and all("sae.dtype: float32" in message for message in warned)

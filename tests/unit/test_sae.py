"""The k-sparse tied-weight autoencoder and the latent scores, against direct computations."""

import numpy as np
import pandas as pd
import pytest
import torch

from interpflow.methods.sparse_autoencoder import analysis as sae_analysis
from interpflow.sae.autoencoder import (
    KSparseAutoencoder,
    SAEConfig,
    decorrelation_penalty,
    decorrelation_penalty_covariance,
    decorrelation_penalty_gram,
    fraction_of_variance_unexplained,
    latent_activations,
    loss_terms,
    train,
)
from interpflow.stores.word_categories import category_positions


def toy_data(n_tokens=64, width=24, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n_tokens, 4)) @ rng.normal(size=(4, width)) + 0.1 * rng.normal(size=(n_tokens, width))
    ).astype(np.float32)


def model_for(x, k=8, **overrides):
    config = SAEConfig(input_dim=x.shape[1], latent_dim=2 * x.shape[1], k=k, **overrides)
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
        model.encoder.weight.copy_(
            torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [-1, 0, 0], [0, 0, 0.5]])
        )
    z = model.encode(torch.tensor([[3.0, 2.0, 1.0]]))
    # pre-activations 3, 2, 1, 2, -3, 0.5: the k-th largest is 2, and both 2s are kept (as in the seed)
    assert z.tolist() == [[3.0, 2.0, 0.0, 2.0, 0.0, 0.0]]


def test_decoder_is_the_transposed_encoder():
    x = torch.from_numpy(toy_data())
    model = model_for(x.numpy())
    x_hat, z = model(x)
    torch.testing.assert_close(x_hat, z @ model.encoder.weight)
    assert [name for name, _ in model.named_parameters()] == ["encoder.weight"]


def test_each_loss_term_against_a_direct_computation():
    x = torch.from_numpy(toy_data())
    model = model_for(x.numpy(), l1_weight=0.7, decorrelation_weight=0.01)
    terms = loss_terms(model, x)
    x_hat, z = model(x)
    z_np = z.detach().double().numpy()
    covariance = np.cov(z_np, rowvar=False)
    off_diagonal = covariance - np.diag(np.diag(covariance))
    assert terms["mse"].item() == pytest.approx(torch.nn.functional.mse_loss(x_hat, x).item())
    assert terms["l1"].item() == pytest.approx(0.7 * np.abs(z_np).mean(), rel=1e-5)
    assert terms["decorrelation"].item() == pytest.approx(0.01 * (off_diagonal**2).sum(), rel=1e-4)
    assert decorrelation_penalty(z).item() == pytest.approx((off_diagonal**2).sum(), rel=1e-4)
    assert terms["total"].item() == pytest.approx(sum(terms[k].item() for k in ("mse", "l1", "decorrelation")))


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
        terms = loss_terms(model, x, active_only=active_only)
        terms["total"].backward()
        values.append({name: term.item() for name, term in terms.items()})
        gradients.append(model.encoder.weight.grad.clone())
    for name, dense in values[0].items():
        assert values[1][name] == pytest.approx(dense, rel=1e-5), name
    scale = gradients[0].abs().max()
    torch.testing.assert_close(gradients[1] / scale, gradients[0] / scale, rtol=1e-5, atol=1e-6)


def test_training_over_active_latents_follows_the_dense_loss_curve():
    x = data_with_idle_latents()
    config = SAEConfig(input_dim=24, latent_dim=48, k=12, learning_rate=1e-2, epochs=30, seed=3)
    _, dense = train(x, config, active_only=False)
    _, active = train(x, config)
    pd.testing.assert_frame_equal(active, dense, rtol=1e-4, atol=0)


def test_training_lowers_the_loss_and_is_deterministic():
    x = toy_data()
    config = SAEConfig(input_dim=24, latent_dim=48, k=8, learning_rate=1e-2, epochs=60, seed=3)
    model, log = train(x, config)
    assert list(log.columns) == ["epoch", "total_loss", "mse_loss", "l1_loss", "decorrelation_loss"]
    assert log["epoch"].tolist() == list(range(60))
    assert log["total_loss"].iloc[-1] < 0.5 * log["total_loss"].iloc[0]
    _, again = train(x, config)
    pd.testing.assert_frame_equal(log, again, check_exact=True)
    assert not model.training


def test_fraction_of_variance_unexplained():
    x = toy_data()
    model = model_for(x)
    with torch.no_grad():
        x_hat = model(torch.from_numpy(x))[0].numpy()
    expected = ((x - x_hat) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    assert fraction_of_variance_unexplained(model, x) == pytest.approx(expected, rel=1e-5)
    assert latent_activations(model, x).shape == (64, 48)


def test_latent_scores_by_hand():
    latents = np.array([[0.0, 2.0, 1.0], [0.0, 4.0, 0.0], [0.0, 0.0, 3.0], [0.0, 6.0, 0.0]])
    is_target = np.array([True, True, False, False])
    scores = sae_analysis.latent_scores(latents, is_target, "geo")
    assert list(scores.columns) == ["latent", "density_pct", "mean_nonzero", "geo_score"]
    np.testing.assert_allclose(scores["density_pct"], [0, 75, 50])
    np.testing.assert_allclose(scores["mean_nonzero"], [0, 4, 2])
    # latent 1: target mean (2+4)/2 = 3, other tokens 6 -> 0.5; latent 2: 1 / 3; latent 0: none -> 0
    np.testing.assert_allclose(scores["geo_score"], [0, 0.5, 1 / 3])


def test_category_positions_match_whole_words_with_their_space():
    tokens = ["Pal", "inka", " in", " Hungary", " and", " Trans", "yl", "vania", ",", " Hungary", "an"]
    marked = category_positions(tokens, ["Hungary", "Transylvania", "Austria"])
    assert np.flatnonzero(marked).tolist() == [3, 5, 6, 7]  # " Hungary" + "an" is another word


def test_ranked_latents():
    scores = pd.DataFrame({"latent": [0, 1, 2, 3], "density_pct": [5.0, 50.0, 20.0, 50.0]})
    assert [sae_analysis.ranked(scores, "density_pct", r) for r in range(4)] == [1, 3, 2, 0]
    with pytest.raises(ValueError, match="rank 4 is out of range: there are 4 latents"):
        sae_analysis.ranked(scores, "density_pct", 4)

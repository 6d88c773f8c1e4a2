"""subspace_removal: the transform against a direct SVD, and the fast sweep against the reference loop."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from interpflow.methods.subspace_removal import analysis as sr
from interpflow.methods.subspace_removal.interventions import sweep_from_cache, sweep_reference
from interpflow.methods.subspace_removal.method import METHOD as SR_METHOD
from interpflow.methods.subspace_removal.subspace import remove_top_components, token_covariance
from interpflow.runtime.errors import ConfigError
from interpflow.stores.extraction import extract_activations

TEXT = "Joseph Maurice Ravel (7 March 1875 - 28 December 1937) was a French composer, pianist and conductor."


def numpy_reference(x: np.ndarray, k: int) -> np.ndarray:
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    s = s.copy()
    s[:k] = 0
    return u @ np.diag(s) @ vt + x.mean(axis=1, keepdims=True)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_transform_matches_numpy_svd(k):
    x = np.random.default_rng(k).normal(size=(12, 40))
    got = remove_top_components(torch.from_numpy(x), k).numpy()
    np.testing.assert_allclose(got, numpy_reference(x, k), atol=1e-10)


def test_transform_keeps_the_batch_dimension():
    x = torch.randn(3, 8, 20, dtype=torch.float64)
    batched = remove_top_components(x, 1)
    for i in range(3):
        torch.testing.assert_close(batched[i], remove_top_components(x[i], 1))


def test_rank_one_data_leaves_only_the_token_means():
    """X = a b^T: removing its one component leaves each token's mean over neurons, broadcast."""
    a, b = np.arange(1.0, 7.0), np.linspace(-1, 2, 10)
    x = np.outer(a, b)
    got = remove_top_components(torch.from_numpy(x), 1).numpy()
    np.testing.assert_allclose(got, np.repeat(x.mean(axis=1, keepdims=True), 10, axis=1), atol=1e-12)


def test_rank_two_data_keeps_the_second_component():
    u = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 2)))[0]
    v = np.linalg.qr(np.random.default_rng(1).normal(size=(9, 2)))[0]
    x = 5 * np.outer(u[:, 0], v[:, 0]) + 2 * np.outer(u[:, 1], v[:, 1])
    got = remove_top_components(torch.from_numpy(x), 1).numpy()
    np.testing.assert_allclose(got, 2 * np.outer(u[:, 1], v[:, 1]) + x.mean(axis=1, keepdims=True), atol=1e-12)
    assert sr.top_component_variance_pct(x) == pytest.approx(100 * 25 / 29)


def test_transform_rejects_too_many_components():
    with pytest.raises(ValueError, match="below the number of tokens"):
        remove_top_components(torch.zeros(4, 10), 4)


def test_eigenspectrum_is_sorted_and_matches_eig():
    x = np.random.default_rng(3).normal(size=(7, 30))
    spectrum = sr.eigenspectrum_pct(token_covariance(x))
    expected = np.sort(np.real(np.linalg.eigvals(np.cov(x))))[::-1]
    np.testing.assert_allclose(spectrum, 100 * expected / expected.sum(), atol=1e-10)
    assert np.all(np.diff(spectrum) <= 1e-12)


def test_cosine_similarity_excludes_the_first_token():
    h = np.array([[100.0, 0], [1, 0], [0, 2], [1, 1]])
    cs = sr.cosine_similarity_matrix(h)
    np.testing.assert_allclose(cs, [[1, 0, 2**-0.5], [0, 1, 2**-0.5], [2**-0.5, 2**-0.5, 1]])


@pytest.fixture(scope="module")
def ravel_store(tiny_model):
    model, tokenizer = tiny_model
    section = {
        "text": "ravel",
        "inspection_layer": 1,
        "intervention_layer": "middle",
        "sweep": True,
        "neuron_site": "mlp.hook_pre",
    }
    sites = SR_METHOD.required_sites(section, model.config.n_layer)
    return extract_activations(model, tokenizer, [TEXT], sites)


@pytest.mark.parametrize(("k", "batch_size"), [(1, 2), (2, 8), (1, 1)])
def test_fast_sweep_equals_reference_loop(tiny_model, ravel_store, k, batch_size):
    model, _ = tiny_model
    layers = list(range(model.config.n_layer))
    token_ids = torch.tensor(ravel_store.tokens["token_id"].to_numpy(), dtype=torch.long)
    reference = sweep_reference(model, token_ids, layers, k)
    fast = sweep_from_cache(model, ravel_store, layers, k, batch_size=batch_size)
    tokens = ravel_store.tokens
    for table in (sr.hidden_state_impact_table, lambda runs: sr.logit_impact_table(runs, tokens)):
        pd.testing.assert_frame_equal(table(fast), table(reference), atol=1e-5, rtol=1e-5, check_exact=False)
    for ref, got in zip(reference, fast, strict=True):
        np.testing.assert_allclose(got.hidden_after, ref.hidden_after, atol=1e-5)
        assert np.all(ref.diff_norms[: ref.layer + 1] == 0) and np.all(got.diff_norms[: got.layer + 1] == 0)
        assert np.all(ref.diff_norms[ref.layer + 1 :] > 0)


def test_layer_sweep_table_is_scipy_ttest(ravel_store):
    logit = pd.DataFrame(
        {
            "intervention_layer": [0, 0, 0, 1, 1, 1],
            "position": [1, 2, 3] * 2,
            "token_id": 0,
            "token": "x",
            "delta_logprob": [0.5, 0.1, 0.3, -1.0, -0.5, 0.2],
        }
    )
    table = sr.layer_sweep_table(logit, {0: 40.0, 1: 10.0})
    assert list(table.columns) == sr.LAYER_SWEEP_COLUMNS
    expected = stats.ttest_1samp([-1.0, -0.5, 0.2], 0)
    assert table.loc[1, "t_statistic"] == pytest.approx(expected.statistic)
    assert table.loc[1, "p_value"] == pytest.approx(expected.pvalue)
    # by hand: mean 0.3, sd 0.2, n 3 -> t = 0.3 / (0.2 / sqrt 3)
    assert table.loc[0, "t_statistic"] == pytest.approx(0.3 / (0.2 / np.sqrt(3)))


class FakeTokenized:
    def __init__(self, *lengths):
        self.lengths = lengths

    def ids(self, text_name):
        return [[0] * n for n in self.lengths]


def test_config_checks_name_key_and_limit():
    section = {"text": "ravel", "n_components": 5}
    SR_METHOD.check_text(section, "subspace_removal", FakeTokenized(6))
    with pytest.raises(
        ConfigError, match=r"'subspace_removal.n_components': 6 must be below the number of tokens of 'ravel' \(6\)"
    ):
        SR_METHOD.check_text({**section, "n_components": 6}, "subspace_removal", FakeTokenized(6))
    with pytest.raises(ConfigError, match="at least 2 are needed"):
        SR_METHOD.check_text(section, "subspace_removal", FakeTokenized(1))
    with pytest.raises(ConfigError, match="one text"):
        SR_METHOD.check_text(section, "subspace_removal", FakeTokenized(4, 5))

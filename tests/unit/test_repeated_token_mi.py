"""repeated_token_mi: MI estimators against closed forms, trimming, and the layer statistics against scipy."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from interpflow.methods.repeated_token_mi import analysis as mi_analysis
from interpflow.methods.repeated_token_mi.method import METHOD as MI_METHOD
from interpflow.methods.repeated_token_mi.mutual_information import (
    entropy_bits,
    histogram_mutual_information,
    knn_mutual_information,
    outlier_mask,
    trimmed_histogram_mutual_information,
)
from interpflow.runtime.errors import ConfigError
from tests.unit.test_neuron_contrast import benjamini_hochberg


def gaussian_pair(rho, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)


@pytest.mark.parametrize("rho", [0.3, 0.6])
def test_histogram_mi_matches_the_gaussian_closed_form(rho):
    x, y = gaussian_pair(rho)
    assert histogram_mutual_information(x, y, bins=15) == pytest.approx(-0.5 * np.log2(1 - rho**2), abs=0.02)


def test_histogram_mi_underestimates_strong_dependence_by_binning():
    """15 bins cannot resolve rho = 0.9: the plug-in estimate is below the truth, by under 15%."""
    x, y = gaussian_pair(0.9)
    true = -0.5 * np.log2(1 - 0.81)
    assert 0.85 * true < histogram_mutual_information(x, y, bins=15) < true


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_knn_mi_matches_the_gaussian_closed_form_in_nats(rho):
    x, y = gaussian_pair(rho, n=5000)
    assert knn_mutual_information(x, y) == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.04)


def test_independence_gives_near_zero():
    x, y = gaussian_pair(0.0, seed=4)
    assert abs(histogram_mutual_information(x, y)) < 0.01
    assert abs(knn_mutual_information(x, y)) < 0.01


def test_hand_computed_cases():
    x = np.array([0.0, 0.0, 1.0, 1.0])
    assert histogram_mutual_information(x, x, bins=2) == pytest.approx(1.0)  # one fair bit, fully shared
    assert histogram_mutual_information(x, np.array([0.0, 1.0, 0.0, 1.0]), bins=2) == pytest.approx(0.0)
    p = np.array([0.5, 0.25, 0.25, 0.0])
    assert entropy_bits(p) == pytest.approx(stats.entropy(p, base=2))


def test_trimming_removes_exactly_the_planted_outliers():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=1600), rng.normal(size=1600)
    planted = [10, 500, 1234]
    x[10], y[500], x[1234] = 40.0, -40.0, 25.0
    assert np.flatnonzero(outlier_mask(x, y, 4)).tolist() == planted
    assert not outlier_mask(x, y, 0).any()
    keep = np.setdiff1d(np.arange(1600), planted)
    assert trimmed_histogram_mutual_information(x, y, 4) == histogram_mutual_information(x[keep], y[keep])


def test_knn_mi_is_seeded():
    x, y = gaussian_pair(0.5, n=500)
    assert knn_mutual_information(x, y, seed=3) == knn_mutual_information(x, y, seed=3)


def pairs_table():
    rng = np.random.default_rng(5)
    rows = []
    positions = [1, 6, 12, 39, 45]
    for layer in range(3):
        for sublayer in ("attn", "mlp"):
            for i in range(5):
                for j in range(i + 1, 5):
                    for estimator in ("histogram", "knn"):
                        distance = positions[j] - positions[i]
                        mi = 1 / distance + rng.normal() * 0.01 + (0.2 if sublayer == "mlp" else 0)
                        rows.append((layer, sublayer, estimator, i, j, positions[i], positions[j], distance, mi))
    return pd.DataFrame(rows, columns=mi_analysis.PAIR_COLUMNS)


def test_layer_summary_is_scipy_kendall():
    pairs = pairs_table()
    summary = mi_analysis.layer_summary(pairs)
    assert list(summary.columns) == mi_analysis.SUMMARY_COLUMNS and len(summary) == 12
    group = pairs.query("layer == 1 and sublayer == 'mlp' and estimator == 'knn'")
    row = summary.query("layer == 1 and sublayer == 'mlp' and estimator == 'knn'").iloc[0]
    expected = stats.kendalltau(group["mi"], group["distance"])
    assert row["kendall_tau"] == pytest.approx(expected.statistic) and row["kendall_p"] == pytest.approx(
        expected.pvalue
    )
    assert row["mean_mi"] == pytest.approx(group["mi"].mean())


def test_fisher_z_is_two_sided():
    z, p = mi_analysis.fisher_z_test(0.5, 0.2, 10)
    assert z == pytest.approx((np.arctanh(0.5) - np.arctanh(0.2)) / np.sqrt(2 / 7))
    assert p == pytest.approx(2 * (1 - stats.norm.cdf(abs(z))))
    assert mi_analysis.fisher_z_test(0.2, 0.5, 10)[1] == pytest.approx(p)


def test_sublayer_tests_t_and_fdr():
    pairs = pairs_table()
    summary = mi_analysis.layer_summary(pairs)
    tests = mi_analysis.sublayer_tests(pairs, summary, alpha=0.05)
    assert list(tests.columns) == mi_analysis.TEST_COLUMNS and len(tests) == 3 * 2 * 2
    group = pairs.query("layer == 2 and estimator == 'histogram'")
    expected = stats.ttest_ind(group[group.sublayer == "mlp"]["mi"], group[group.sublayer == "attn"]["mi"])
    row = tests.query("layer == 2 and estimator == 'histogram' and test == 't'").iloc[0]
    assert row["statistic"] == pytest.approx(expected.statistic) and row["p_value"] == pytest.approx(expected.pvalue)
    for (_, _), part in tests.groupby(["estimator", "test"]):
        np.testing.assert_array_equal(part["significant"], benjamini_hochberg(part["p_value"].to_numpy(), 0.05))


class FakeTokenized:
    def __init__(self, texts):
        from transformers import GPT2Tokenizer

        from tests.conftest import TOKENIZER_DIR

        self.tokenizer = GPT2Tokenizer.from_pretrained(str(TOKENIZER_DIR))
        self._ids = [self.tokenizer.encode(text) for text in texts]

    def ids(self, text_name):
        return self._ids


@pytest.mark.parametrize(
    ("texts", "target", "message"),
    [
        (["Coffee is good coffee, coffee."], " coffee", r"' coffee' \(token \[' coffee'\]\) occurs 2 time\(s\)"),
        (["tea, tea and tea"], " coffee", r"occurs 0 time\(s\)"),
        (["palinka palinka palinka"], " palinka", r"is not a single token: it tokenizes as \[' pal', 'inka'\]"),
        (["a coffee", "two texts"], " coffee", "needs a text set of one text"),
    ],
)
def test_bad_targets_show_how_they_tokenize(texts, target, message):
    section = {"text": "t", "target": target, "min_occurrences": 3}
    with pytest.raises(ConfigError, match=message):
        MI_METHOD.check_text(section, "repeated_token_mi", FakeTokenized(texts))

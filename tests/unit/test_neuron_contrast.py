"""neuron_clusters: tests per neuron against scipy and hand-made corrections; clusters on planted structure."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score

from interpflow.methods.neuron_contrast import analysis as nc
from interpflow.methods.neuron_contrast.method import preview, target_positions
from interpflow.stores.activation_store import ActivationStore

SECTION = {
    "tsne": {"perplexity": 30, "seed": 0},
    "dbscan": {"eps": 1.0, "min_samples": 3},
    "kmeans": {"k": 3, "n_init": 10, "seed": 0},
}


def planted(n_sentences=40, n_neurons=200, shifted=(0, 1, 2, 3, 4), seed=0):
    rng = np.random.default_rng(seed)
    acts = rng.normal(size=(n_sentences, n_neurons))
    first = np.arange(n_sentences) < n_sentences // 2
    acts[np.ix_(first, list(shifted))] += 3.0
    return acts, first


def test_t_tests_match_scipy_per_neuron():
    acts, first = planted()
    tests = nc.neuron_tests(acts, first, layer=5, correction="bonferroni", alpha=0.05)
    assert list(tests.columns) == nc.TEST_COLUMNS
    for neuron in (0, 7, 150):
        expected = stats.ttest_ind(acts[first, neuron], acts[~first, neuron])
        assert tests.loc[neuron, "t_statistic"] == pytest.approx(expected.statistic)
        assert tests.loc[neuron, "p_value"] == pytest.approx(expected.pvalue)
    assert tests["significant"].to_numpy().nonzero()[0].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(tests["significant"], tests["p_value"] < 0.05 / 200)  # Bonferroni by hand


def benjamini_hochberg(p, alpha):
    """Hand-written step-up procedure: reject the k smallest where k = max{i: p_(i) <= i alpha / m}."""
    order = np.argsort(p)
    m = len(p)
    passed = np.nonzero(p[order] <= alpha * np.arange(1, m + 1) / m)[0]
    reject = np.zeros(m, bool)
    if len(passed):
        reject[order[: passed.max() + 1]] = True
    return reject


def test_benjamini_hochberg_matches_the_step_up_procedure():
    acts, first = planted(shifted=range(30), seed=3)
    acts[:, 30:60] += np.where(first[:, None], 0.6, 0.0)  # weaker effects, where BH and Bonferroni differ
    tests = nc.neuron_tests(acts, first, layer=0, correction="fdr_bh", alpha=0.05)
    np.testing.assert_array_equal(tests["significant"], benjamini_hochberg(tests["p_value"].to_numpy(), 0.05))
    bonferroni = nc.neuron_tests(acts, first, layer=0, correction="bonferroni", alpha=0.05)
    assert tests["significant"].sum() > bonferroni["significant"].sum()


def test_target_positions_and_policies():
    tokens = [["I", " saw", " him", "."], [" him", " and", " him"], ["no", " target"]]
    sentences = ["I saw him.", "him and him", "no target"]
    assert target_positions(tokens[:1], [" him"], sentences[:1], "unique") == [[2]]
    assert target_positions(tokens[1:2], [" him"], sentences[1:2], "first") == [[0]]
    assert target_positions(tokens[1:2], [" him"], sentences[1:2], "last") == [[2]]
    assert target_positions(tokens[1:2], [" him"], sentences[1:2], "mean") == [[0, 2]]
    with pytest.raises(ValueError, match=r"row 2 \('him and him'\) contains ' him' 2 times; set target_policy"):
        target_positions(tokens, [" him"] * 3, sentences, "unique")
    with pytest.raises(ValueError, match=r"row 3 \('no target'\) has no ' him'"):
        target_positions(tokens, [" him"] * 3, sentences, "first")
    with pytest.raises(ValueError, match=r"row 1 \('I saw him.'\) has no ' her'"):  # ids, named by their words
        target_positions([[40, 2497, 683, 13]], [607], sentences[:1], "first", words=[" her"])
    assert preview("x" * 50) == repr("x" * 40 + "…")


def test_target_activations_take_the_target_row_of_each_text():
    tokens = pd.DataFrame({"text_id": [0, 0, 0, 1, 1], "position": [0, 1, 2, 0, 1], "token_id": 0, "token": "x"})
    site = np.arange(10.0).reshape(5, 2)
    store = ActivationStore(tokens=tokens, arrays={"blocks.3.mlp.hook_pre": site})
    got = nc.target_activations(store, "blocks.3.mlp.hook_pre", [[1], [0, 1]])
    np.testing.assert_array_equal(got, [site[1], (site[3] + site[4]) / 2])


def test_planted_neuron_contrast_are_recovered():
    """Three groups of neurons with distinct response patterns over sentences -> three clusters."""
    rng = np.random.default_rng(1)
    patterns = rng.normal(size=(3, 30)) * 5
    membership = np.repeat([0, 1, 2], 40)
    acts = (patterns[membership] + rng.normal(size=(120, 30)) * 0.3).T  # (sentences, neurons)
    tests = pd.DataFrame(
        {
            "layer": 2,
            "neuron": np.arange(120),
            "t_statistic": np.linspace(-5, 5, 120),
            "p_value": 0.0,
            "significant": True,
        }
    )
    clusters, note = nc.embed_and_cluster(acts, tests, SECTION)
    assert note == ""
    assert list(clusters.columns) == nc.CLUSTER_COLUMNS
    assert adjusted_rand_score(membership, clusters["kmeans_cluster"]) == pytest.approx(1.0)
    assert adjusted_rand_score(membership, clusters["dbscan_cluster"]) > 0.9
    again, _ = nc.embed_and_cluster(acts, tests, SECTION)
    pd.testing.assert_frame_equal(clusters, again)  # seeded: identical on a rerun


def test_too_few_significant_neurons_adapt_or_skip():
    acts, first = planted(shifted=())
    tests = nc.neuron_tests(acts, first, layer=1, correction="bonferroni", alpha=0.05)
    clusters, note = nc.embed_and_cluster(acts, tests, SECTION)
    assert clusters.empty and list(clusters.columns) == nc.CLUSTER_COLUMNS
    assert "need at least 3" in note
    acts, first = planted(shifted=range(12))
    tests = nc.neuron_tests(acts, first, layer=1, correction="bonferroni", alpha=0.05)
    clusters, note = nc.embed_and_cluster(acts, tests, SECTION)
    assert len(clusters) == 12 and "perplexity lowered from 30" in note


def test_cluster_summary_by_hand():
    clusters = pd.DataFrame(
        {
            "layer": 4,
            "neuron": [1, 2, 3, 4],
            "tsne_x": 0.0,
            "tsne_y": 0.0,
            "dbscan_cluster": [0, 0, 1, -1],
            "kmeans_cluster": [2, 2, 2, 0],
            "t_statistic": [2.0, -4.0, 6.0, 1.0],
        }
    )
    summary = nc.cluster_summary(clusters)
    assert list(summary.columns) == nc.SUMMARY_COLUMNS
    rows = {(r.method, r.cluster): (r.n_units, r.mean_t, r.mean_abs_t) for r in summary.itertuples()}
    assert rows == {
        ("dbscan", 0): (2, -1.0, 3.0),
        ("dbscan", 1): (1, 6.0, 6.0),
        ("kmeans", 0): (1, 1.0, 1.0),
        ("kmeans", 2): (3, 4 / 3, 4.0),
    }


def test_cosine_similarities_of_columns():
    vectors = np.array([[1.0, 0, 1], [0, 2, 1]])
    np.testing.assert_allclose(
        nc.cosine_similarities(vectors), [[1, 0, 2**-0.5], [0, 1, 2**-0.5], [2**-0.5, 2**-0.5, 1]]
    )


def test_figures_draw_when_no_neuron_is_significant():
    """The workflow completes when too few neurons pass: every figure draws, with a note instead of clusters."""
    import matplotlib.pyplot as plt

    from interpflow.methods.neuron_contrast import figures as plots

    acts, first = planted(shifted=())
    tests = nc.neuron_tests(acts, first, layer=1, correction="bonferroni", alpha=0.05)
    clusters, _ = nc.embed_and_cluster(acts, tests, SECTION)
    assert clusters.empty
    figures = [
        plots.t_values(tests, ["him", "her"], "bonferroni"),
        plots.tsne(acts, clusters),
        plots.dbscan(clusters),
        plots.dbscan_similarity(acts, clusters, 20),
        plots.kmeans(acts, clusters),
        plots.layer_sweep(tests, clusters),
    ]
    assert all(len(fig.axes) >= 1 for fig in figures)
    plt.close("all")

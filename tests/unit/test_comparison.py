"""Comparison tables: runs stacked with their labels and relative depth, each method's summary by hand."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from interpflow.comparison import Run, depth_axis, relative_depth, stack_runs
from interpflow.methods import (
    neuron_contrast,
    repeated_token_mi,
    residual_decomposition,
    sparse_autoencoder,
    subspace_removal,
)

matplotlib.use("Agg")

SHALLOW, DEEP = Run("a", "small", 3), Run("b", "large", 5)


def test_relative_depth_runs_from_first_to_last_block():
    assert relative_depth(np.arange(5), 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert relative_depth(np.arange(3), 3).tolist() == [0.0, 0.5, 1.0]
    assert relative_depth(np.zeros(1), 1).tolist() == [0.0]


def test_stacked_runs_carry_their_labels_and_a_common_depth():
    frames = [pd.DataFrame({"layer": [0, 1, 2], "v": [1.0, 2.0, 3.0]}), pd.DataFrame({"layer": [4], "v": [9.0]})]
    table = stack_runs(frames, [SHALLOW, DEEP])
    assert list(table.columns) == ["instance", "model", "n_layer", "layer", "relative_depth", "v"]
    assert table["instance"].tolist() == ["a", "a", "a", "b"] and table["n_layer"].tolist() == [3, 3, 3, 5]
    assert table["relative_depth"].tolist() == [0.0, 0.5, 1.0, 1.0]
    assert depth_axis(table)[0] == "relative_depth"
    assert depth_axis(table[table["instance"] == "a"])[0] == "layer"  # one depth: plain block index


def test_neuron_contrast_counts_significant_neurons_per_layer():
    tests = pd.DataFrame(
        {"layer": [0, 0, 0, 1, 1, 1], "neuron": [0, 1, 2] * 2, "significant": [True, False, True, False, False, True]}
    )
    table = neuron_contrast.comparison_table([tests], [SHALLOW])
    assert table[["layer", "n_significant", "n_neurons"]].values.tolist() == [[0, 2, 3], [1, 1, 3]]


def test_residual_decomposition_keeps_the_identity_rows_only():
    correlations = pd.DataFrame(
        {
            "layer": [0, 0, 1, 1],
            "comparison": ["hs_vs_next_hs", "reconstruction_vs_next_hs"] * 2,
            "pearson_r": [0.5, 1.0, 0.4, 0.9],
            "n_values": [10] * 4,
            "max_abs_reconstruction_error": [0.0, 0.0, 0.3, 0.3],
        }
    )
    table = residual_decomposition.comparison_table([correlations], [SHALLOW])
    assert list(table.columns) == residual_decomposition.COMPARISON_COLUMNS
    assert table["pearson_r"].tolist() == [1.0, 0.9] and table["max_abs_reconstruction_error"].tolist() == [0.0, 0.3]


def test_sparse_autoencoder_attaches_each_run_final_fvu():
    log = pd.DataFrame({"epoch": [0, 1], "total_loss": [2.0, 1.0], "mse_loss": [1.5, 0.5], "l1_loss": [0.5] * 2})
    table = sparse_autoencoder.comparison_table([log, log], [0.3, 0.2], [SHALLOW, DEEP])
    assert list(table.columns) == sparse_autoencoder.COMPARISON_COLUMNS
    assert table["final_fvu"].tolist() == [0.3, 0.3, 0.2, 0.2] and "relative_depth" not in table


def test_layer_tables_pass_through_unchanged():
    sweep = pd.DataFrame(
        {"layer": [0, 1], "t_statistic": [-1.0, 2.0], "p_value": [0.1, 0.2], "top_pc_variance_pct": [5.0, 6.0]}
    )
    table = subspace_removal.comparison_table([sweep], [DEEP])
    pd.testing.assert_frame_equal(table[list(sweep.columns)], sweep)
    summary = pd.DataFrame(
        {
            "layer": [0],
            "sublayer": ["attn"],
            "estimator": ["knn"],
            "mean_mi": [0.1],
            "kendall_tau": [-0.2],
            "kendall_p": [0.5],
        }
    )
    table = repeated_token_mi.comparison_table([summary], [DEEP])
    assert list(table.columns) == repeated_token_mi.COMPARISON_COLUMNS and table["relative_depth"].iloc[0] == 0.0


@pytest.mark.parametrize(
    "method", [subspace_removal, neuron_contrast, repeated_token_mi, sparse_autoencoder, residual_decomposition]
)
def test_every_method_draws_its_comparison(method):
    """Each comparison figure draws one labelled line (or bar) per run from a small table."""
    import importlib

    plots = importlib.import_module(f"interpflow.plotting.{method.__name__.rsplit('.', 1)[1]}")
    table = comparison_fixture(method)
    fig = plots.comparison(table)
    labels = {text.get_text() for legend in fig.legends for text in legend.get_texts()}
    assert any("a · small" in label for label in labels) and any("b · large" in label for label in labels)


def comparison_fixture(method) -> pd.DataFrame:
    layers = [pd.DataFrame({"layer": range(3)}), pd.DataFrame({"layer": range(5)})]
    if method is sparse_autoencoder:
        log = pd.DataFrame({"epoch": range(4), "total_loss": [4.0, 3, 2, 1], "mse_loss": [2.0, 1.5, 1, 0.5]})
        return method.comparison_table([log, log], [0.4, 0.3], [SHALLOW, DEEP])
    if method is neuron_contrast:
        tests = [f.assign(neuron=0, significant=True) for f in layers]
        return method.comparison_table(tests, [SHALLOW, DEEP])
    if method is repeated_token_mi:
        frames = [
            f.merge(pd.DataFrame({"sublayer": ["attn", "mlp"]}), how="cross")
            .merge(pd.DataFrame({"estimator": ["histogram", "knn"]}), how="cross")
            .assign(mean_mi=0.5, kendall_tau=-0.1, kendall_p=0.3)
            for f in layers
        ]
        return method.comparison_table(frames, [SHALLOW, DEEP])
    if method is residual_decomposition:
        frames = [
            f.assign(
                comparison="reconstruction_vs_next_hs", pearson_r=1.0, n_values=4, max_abs_reconstruction_error=0.0
            )
            for f in layers
        ]
        return method.comparison_table(frames, [SHALLOW, DEEP])
    frames = [f.assign(t_statistic=-1.0, p_value=0.1, top_pc_variance_pct=5.0) for f in layers]
    return method.comparison_table(frames, [SHALLOW, DEEP])

"""Comparison tables: runs stacked with their labels and relative depth, each method's summary by hand."""

from importlib import import_module

import matplotlib
import numpy as np
import pandas as pd
import pytest

from interpflow.methods.neuron_contrast import comparison as neuron_contrast
from interpflow.methods.repeated_token_mi import comparison as repeated_token_mi
from interpflow.methods.residual_decomposition import comparison as residual_decomposition
from interpflow.methods.sparse_autoencoder import comparison as sparse_autoencoder
from interpflow.methods.streaming_sae import comparison as streaming_sae
from interpflow.methods.subspace_removal import comparison as subspace_removal
from interpflow.registry import METHODS
from interpflow.runtime.comparison import Run, depth_axis, read_run_file, relative_depth, stack_runs

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
    table = neuron_contrast.comparison_table([SHALLOW], neuron_tests=[tests])
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
    table = residual_decomposition.comparison_table([SHALLOW], correlations=[correlations])
    assert list(table.columns) == residual_decomposition.COMPARISON_COLUMNS
    assert table["pearson_r"].tolist() == [1.0, 0.9] and table["max_abs_reconstruction_error"].tolist() == [0.0, 0.3]


def test_sparse_autoencoder_attaches_each_run_final_fvu():
    log = pd.DataFrame({"step": [1, 2], "tokens": [9, 18], "loss": [2.0, 1.0], "mse": [1.5, 0.5], "l1": [0.5] * 2})
    evaluations = [pd.DataFrame({"fvu": [0.3]}), pd.DataFrame({"fvu": [0.2]})]
    table = sparse_autoencoder.comparison_table([SHALLOW, DEEP], training_logs=[log, log], evaluations=evaluations)
    assert list(table.columns) == sparse_autoencoder.COMPARISON_COLUMNS
    assert table["final_fvu"].tolist() == [0.3, 0.3, 0.2, 0.2] and "relative_depth" not in table


def test_layer_tables_pass_through_unchanged():
    sweep = pd.DataFrame(
        {"layer": [0, 1], "t_statistic": [-1.0, 2.0], "p_value": [0.1, 0.2], "top_pc_variance_pct": [5.0, 6.0]}
    )
    table = subspace_removal.comparison_table([DEEP], layer_sweeps=[sweep])
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
    table = repeated_token_mi.comparison_table([DEEP], layer_summaries=[summary])
    assert list(table.columns) == repeated_token_mi.COMPARISON_COLUMNS and table["relative_depth"].iloc[0] == 0.0


def streaming_sae_inputs(runs: list[Run], l0s: list[float], latents: list[int]) -> dict[str, list]:
    log = pd.DataFrame({"step": [1, 2], "tokens": [8, 16], "fvu": [0.9, 0.5], "l0": 4.0, "dead_fraction": 0.0})
    evaluations = [
        pd.DataFrame(
            {"fvu": [1 / l0], "l0": [l0], "ce_loss_score": [1 - 1 / l0], "kl_div_score": [0.5], "frac_alive": [1.0]}
        )
        for l0 in l0s
    ]
    configs = [{"sae": {"latent_dim": n}} for n in latents]
    return {"training_logs": [log] * len(runs), "evaluations": evaluations, "sae_configs": configs}


def test_streaming_sae_attaches_each_run_metrics_and_draws_one_pareto_line_per_sweep_model_and_width():
    runs = [
        Run("s-k=8-latent_factor=2", "m", 3),
        Run("s-k=4-latent_factor=2", "m", 3),
        Run("s-k=4-latent_factor=4", "m", 3),
        Run("a", "m", 3),
    ]
    table = streaming_sae.comparison_table(runs, **streaming_sae_inputs(runs, [8, 4, 4, 16], [64, 64, 128, 64]))
    assert list(table.columns) == streaming_sae.COMPARISON_COLUMNS
    assert table["heldout_fvu"].tolist() == [0.125, 0.125, 0.25, 0.25, 0.25, 0.25, 1 / 16, 1 / 16]
    assert table["sweep"].tolist() == ["s"] * 6 + ["a"] * 2
    lines = streaming_sae.pareto_lines(table)
    assert [label for label, _ in lines] == ["s · m · 64 latents", "s · m · 128 latents", "a · m · 64 latents"]
    assert lines[0][1]["instance"].tolist() == ["s-k=4-latent_factor=2", "s-k=8-latent_factor=2"]  # by L0
    fig = streaming_sae.comparison_figure(table)
    _, fvu_panel, ce_panel = fig.axes
    assert [len(line.get_xdata()) for line in fvu_panel.get_lines()] == [2, 1, 1]
    assert list(ce_panel.get_lines()[0].get_ydata()) == [0.75, 0.875]
    assert fvu_panel.get_xscale() == "log"


def test_a_run_file_reads_as_a_table_or_a_json_object(tmp_path):
    pd.DataFrame({"x": [1, 2]}).to_parquet(tmp_path / "t.parquet")
    (tmp_path / "c.json").write_text('{"fvu": 0.25}')
    assert read_run_file(tmp_path / "t.parquet")["x"].tolist() == [1, 2]
    assert read_run_file(tmp_path / "c.json") == {"fvu": 0.25}


# The lecture methods' comparisons, drawn from the small tables below; a method added later tests its
# own comparison in its own test file (tests/unit/test_<method>.py).
COMPARISONS = {
    "subspace_removal": subspace_removal,
    "neuron_contrast": neuron_contrast,
    "repeated_token_mi": repeated_token_mi,
    "sparse_autoencoder": sparse_autoencoder,
    "residual_decomposition": residual_decomposition,
    "streaming_sae": streaming_sae,
}


def test_every_registered_method_compares_the_inputs_it_declares():
    """The comparison job calls ``comparison_table(runs, **{argument: ...})`` with the contract's arguments."""
    import inspect

    for name in METHODS:
        module = import_module(f"interpflow.methods.{name}.comparison")
        parameters = list(inspect.signature(module.comparison_table).parameters)
        assert parameters == ["runs", *METHODS[name].comparison_inputs], name


@pytest.mark.parametrize("method", list(COMPARISONS.values()), ids=list(COMPARISONS))
def test_every_method_draws_its_comparison(method):
    """Each comparison figure draws one labelled line (or bar) per run from a small table."""
    table = comparison_fixture(method)
    fig = method.comparison_figure(table)
    labels = {text.get_text() for legend in fig.legends for text in legend.get_texts()}
    labels |= {text.get_text() for ax in fig.axes for text in ax.get_xticklabels()}
    assert any("a · small" in label or "a\nsmall" in label for label in labels), labels
    assert any("b · large" in label or "b\nlarge" in label for label in labels), labels


def comparison_fixture(method) -> pd.DataFrame:
    layers = [pd.DataFrame({"layer": range(3)}), pd.DataFrame({"layer": range(5)})]
    runs = [SHALLOW, DEEP]
    if method is sparse_autoencoder:
        log = pd.DataFrame({"step": range(1, 5), "loss": [4.0, 3, 2, 1], "mse": [2.0, 1.5, 1, 0.5]})
        evaluations = [pd.DataFrame({"fvu": [0.4]}), pd.DataFrame({"fvu": [0.3]})]
        return method.comparison_table(runs, training_logs=[log, log], evaluations=evaluations)
    if method is streaming_sae:
        return method.comparison_table(runs, **streaming_sae_inputs(runs, [4, 8], [64, 64]))
    if method is neuron_contrast:
        return method.comparison_table(runs, neuron_tests=[f.assign(neuron=0, significant=True) for f in layers])
    if method is repeated_token_mi:
        frames = [
            f.merge(pd.DataFrame({"sublayer": ["attn", "mlp"]}), how="cross")
            .merge(pd.DataFrame({"estimator": ["histogram", "knn"]}), how="cross")
            .assign(mean_mi=0.5, kendall_tau=-0.1, kendall_p=0.3)
            for f in layers
        ]
        return method.comparison_table(runs, layer_summaries=frames)
    if method is residual_decomposition:
        frames = [
            f.assign(
                comparison="reconstruction_vs_next_hs", pearson_r=1.0, n_values=4, max_abs_reconstruction_error=0.0
            )
            for f in layers
        ]
        return method.comparison_table(runs, correlations=frames)
    frames = [f.assign(t_statistic=-1.0, p_value=0.1, top_pc_variance_pct=5.0) for f in layers]
    return method.comparison_table(runs, layer_sweeps=frames)

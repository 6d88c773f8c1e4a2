"""residual_decomposition: the residual decomposition holds for every block but the last; r matches references."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from interpflow.methods.residual_decomposition.analysis import (
    COMPARISONS,
    BlockDecomposition,
    comparison_values,
    correlation_table,
)
from interpflow.methods.residual_decomposition.method import METHOD
from interpflow.stores.activation_store import ActivationStore
from interpflow.stores.extraction import extract_activations

SECTION = {"text": "plants", "layer": 1, "all_layers": True, "clip_threshold": None}


@pytest.fixture(scope="module")
def model_store(tiny_model):
    model, tokenizer = tiny_model
    sites = METHOD.required_sites(SECTION, model.config.n_layer)
    return extract_activations(model, tokenizer, ["Plants make fantastic pets because they don't leave a mess."], sites)


def test_reconstruction_equals_next_hidden_state_except_after_the_last_block(model_store, tiny_model):
    n_layer = tiny_model[0].config.n_layer
    for layer in range(n_layer - 1):
        block = BlockDecomposition.from_store(model_store, layer, n_layer)
        np.testing.assert_allclose(block.reconstruction, block.next_hidden, atol=1e-5, rtol=0)
    last = BlockDecomposition.from_store(model_store, n_layer - 1, n_layer)
    # the last block's next residual stream is the final norm's output: the sum is not it.
    assert last.max_abs_reconstruction_error() > 1e-2


def test_table_shape_and_columns(model_store, tiny_model):
    n_layer = tiny_model[0].config.n_layer
    table = correlation_table(model_store, list(range(n_layer)), clip_threshold=None, n_layer=n_layer)
    assert list(table.columns) == ["layer", "comparison", "pearson_r", "n_values", "max_abs_reconstruction_error"]
    assert len(table) == n_layer * len(COMPARISONS)
    exact = table[
        (table.layer < n_layer - 1) & table.comparison.isin(["reconstruction_vs_next_hs", "layer_diff_vs_delta_sum"])
    ]
    np.testing.assert_allclose(exact["pearson_r"], 1.0, atol=1e-6)
    assert (table[table.layer < n_layer - 1]["max_abs_reconstruction_error"] < 1e-5).all()


def constructed_store(rng, n_tokens=6, width=5):
    hidden = rng.normal(size=(n_tokens, width)).astype(np.float32)
    attn = rng.normal(size=(n_tokens, width)).astype(np.float32)
    mlp = (0.5 * attn + rng.normal(size=(n_tokens, width))).astype(np.float32)
    arrays = {
        "blocks.0.hook_resid_pre": hidden,
        "blocks.1.hook_resid_pre": hidden + attn + mlp,
        "blocks.0.hook_attn_out": attn,
        "blocks.0.hook_mlp_out": mlp,
    }
    tokens = pd.DataFrame({"text_id": 0, "position": np.arange(n_tokens), "token_id": 0, "token": "x"})
    return ActivationStore(tokens=tokens, arrays=arrays)


def test_correlations_match_numpy_on_constructed_data():
    store = constructed_store(np.random.default_rng(0))
    table = correlation_table(store, [0], clip_threshold=None, n_layer=2).set_index("comparison")
    attn, mlp = store["blocks.0.hook_attn_out"].ravel(), store["blocks.0.hook_mlp_out"].ravel()
    assert table.loc["attn_delta_vs_mlp_delta", "pearson_r"] == pytest.approx(np.corrcoef(attn, mlp)[0, 1], abs=1e-12)
    assert table.loc["hs_vs_next_hs", "pearson_r"] == pytest.approx(
        np.corrcoef(store["blocks.0.hook_resid_pre"].ravel(), store["blocks.1.hook_resid_pre"].ravel())[0, 1], abs=1e-12
    )
    assert table.loc["reconstruction_vs_next_hs", "pearson_r"] == pytest.approx(1.0, abs=1e-6)
    assert (table["n_values"] == 30).all()


def test_clipping_drops_every_value_where_any_matrix_exceeds_the_threshold():
    store = constructed_store(np.random.default_rng(1))
    store.arrays["blocks.0.hook_attn_out"][2, 3] = 100.0  # one planted extreme value
    store.arrays["blocks.0.hook_resid_pre"][4, 0] = -100.0  # another, in a different matrix
    table = correlation_table(store, [0], clip_threshold=30, n_layer=2).set_index("comparison")
    assert (table["n_values"] == 28).all()
    keep = np.ones(30, bool)
    keep[[2 * 5 + 3, 4 * 5 + 0]] = False
    attn, mlp = store["blocks.0.hook_attn_out"].ravel()[keep], store["blocks.0.hook_mlp_out"].ravel()[keep]
    assert table.loc["attn_delta_vs_mlp_delta", "pearson_r"] == pytest.approx(stats.pearsonr(attn, mlp).statistic)
    values = comparison_values(store, 0, clip_threshold=30, n_layer=2)
    assert len(values) == 4 * 28
    assert values["x"].abs().max() < 100


def test_required_sites_cover_only_the_needed_layers():
    one = METHOD.required_sites({**SECTION, "all_layers": False, "layer": 10}, 12)
    assert sorted(one) == sorted(
        ["blocks.10.hook_resid_pre", "blocks.11.hook_resid_pre", "blocks.10.hook_attn_out", "blocks.10.hook_mlp_out"]
    )
    every = METHOD.required_sites(SECTION, 12)
    assert "ln_final.output" in every and "blocks.11.hook_mlp_out" in every and len(set(every)) == 13 + 24

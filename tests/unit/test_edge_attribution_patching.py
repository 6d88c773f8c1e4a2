"""Edge attribution patching: the edges into a component sum to its input attribution (linearity) in every
family whose updates are linear in their heads, an edge equals attribution patching's estimate computed
from plain hooks, and on the planted circuit the planted head's edge to the logits ranks first."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interpflow.methods.edge_attribution_patching.edges import (
    Target,
    corrupted_gradients,
    edge_table,
    head_counts,
    pair_edges,
    source_sites,
    target_module,
)
from interpflow.models.architectures import adapter_of
from interpflow.models.hooks import capture
from interpflow.models.loading import vendored_tokenizer
from tests.conftest import TOKENIZER_DIR
from tests.model_zoo import SPEC, VARIANTS, tiny_model
from tests.unit.test_activation_patching import planted_circuit

CLEAN = torch.tensor([464, 3290, 286, 262, 1181, 373, 922, 13, 632, 2540, 257, 1643])
CORRUPTED = torch.tensor([464, 3290, 286, 262, 1181, 373, 922, 13, 632, 3797, 257, 1643])
ANSWER, WRONG = 1110, 3576


def clean_values(model, ids, sites):
    with torch.no_grad(), capture(model, sites) as captured:
        model(ids.unsqueeze(0), use_cache=False)
    return {site: value[0] for site, value in captured.items()}


def target_inputs(model, ids, target_list):
    """Each target's input (the tensor its norm reads), ``(tokens, d_model)``."""
    adapter, inputs, handles = adapter_of(model), {}, []
    for target in target_list:
        module = target_module(adapter, model, target)
        handles.append(
            module.register_forward_pre_hook(lambda m, args, t=target: inputs.__setitem__(t, args[0][0].detach()))
        )
    try:
        with torch.no_grad():
            model(ids.unsqueeze(0), use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return inputs


@pytest.mark.parametrize("variant", [variant for variant in VARIANTS if variant != "gemma2"])
def test_the_edges_into_a_component_sum_to_its_input_attribution(variant):
    """``in_v`` is the sum of the outputs before it, so Σ_u edge(u → v) = Δin_v · ∂metric/∂in_v (perturbed
    weights: biases and norm weights that a missed term or a wrong source order would show)."""
    model = tiny_model(variant, True)
    n_layer = SPEC["n_layer"]
    edges = pair_edges(model, clean_values(model, CLEAN, source_sites(n_layer)), CLEAN, CORRUPTED, ANSWER, WRONG)
    _, _, gradients = corrupted_gradients(model, CORRUPTED, ANSWER, WRONG)
    clean_in, corrupted_in = (target_inputs(model, ids, edges.targets) for ids in (CLEAN, CORRUPTED))
    for index, target in enumerate(edges.targets):
        summed = edges.embed[index] + np.nansum(edges.heads[index]) + np.nansum(edges.mlps[index])
        expected = float(((clean_in[target] - corrupted_in[target]).double() * gradients[target].double()).sum())
        assert summed == pytest.approx(expected, abs=1e-5 + 1e-4 * abs(expected)), (variant, target)
    assert np.nanmax(np.abs(edges.heads)) > 1e-4  # heads matter
    logits = edges.targets.index(Target("logits", n_layer))
    assert (
        not np.isnan(edges.heads[logits]).any() and np.isnan(edges.heads[0]).all()
    )  # block 0's attention reads no head


def test_a_missing_source_breaks_the_sum():
    """The check above can fail: dropping the MLP edges leaves the sum short of the input attribution."""
    model = tiny_model("gpt2", True)
    edges = pair_edges(
        model, clean_values(model, CLEAN, source_sites(SPEC["n_layer"])), CLEAN, CORRUPTED, ANSWER, WRONG
    )
    logits = len(edges.targets) - 1
    with_mlps = edges.embed[logits] + np.nansum(edges.heads[logits]) + np.nansum(edges.mlps[logits])
    without = edges.embed[logits] + np.nansum(edges.heads[logits])
    assert abs(with_mlps - without) > 1e-3


def test_the_parallel_blocks_mlp_reads_no_head_of_its_own_block():
    model = tiny_model("gpt_neox", True)  # use_parallel_residual
    edges = pair_edges(
        model, clean_values(model, CLEAN, source_sites(SPEC["n_layer"])), CLEAN, CORRUPTED, ANSWER, WRONG
    )
    mlp0 = edges.targets.index(Target("mlp", 0))
    assert np.isnan(edges.heads[mlp0]).all()
    sequential = tiny_model("gpt_neox_sequential", True)
    edges = pair_edges(
        sequential, clean_values(sequential, CLEAN, source_sites(SPEC["n_layer"])), CLEAN, CORRUPTED, ANSWER, WRONG
    )
    assert not np.isnan(edges.heads[mlp0, 0]).any()


def test_on_the_planted_circuit_the_planted_heads_edge_to_the_logits_ranks_first():
    model = planted_circuit()
    tokenizer = vendored_tokenizer(TOKENIZER_DIR)
    clean_ids = torch.tensor(tokenizer("When Mary and John went to the store, John gave a drink to")["input_ids"])
    corrupted_ids = torch.tensor(tokenizer("When Mary and John went to the store, Mary gave a drink to")["input_ids"])
    answer, wrong = tokenizer.encode(" Mary")[0], tokenizer.encode(" John")[0]
    edges = pair_edges(model, clean_values(model, clean_ids, source_sites(2)), clean_ids, corrupted_ids, answer, wrong)
    table = edge_table([edges], circuit_edges=1, threshold=None)
    top = table.loc[table["score"].abs().idxmax()]
    assert (top["source"], top["source_layer"], top["source_head"], top["target"]) == ("head", 1, 2, "logits")
    # the planted path is embedding -> block 1's attention (the head's values) -> the logits; nothing else
    feeding = (table["source"] == "embed") & (table["target"] == "attn") & (table["target_layer"] == 1)
    assert table.loc[feeding, "score"].abs().max() > 0.1 * abs(top["score"])
    others = table.drop(index=[top.name, *table.index[feeding]])
    assert others["score"].abs().max() < 0.1 * abs(top["score"])
    assert table["in_circuit"].sum() == 1 and table.loc[top.name, "in_circuit"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_per_head_query_key_and_value_inputs_split_each_blocks_attention_edges(variant):
    """The attention reads its input only through its heads' queries, keys and values, so with
    ``head_inputs`` the edges into a block's heads' q, k and v inputs sum to its attention edge (every
    family; grouped key-value heads in Mistral and Qwen2)."""
    model = tiny_model(variant, True)
    n_layer = SPEC["n_layer"]
    clean = clean_values(model, CLEAN, source_sites(n_layer))
    whole = pair_edges(model, clean, CLEAN, CORRUPTED, ANSWER, WRONG)
    split = pair_edges(model, clean, CLEAN, CORRUPTED, ANSWER, WRONG, head_inputs=True)
    counts = head_counts(model)
    assert len(split.targets) == n_layer * (counts["q"] + 2 * counts["k"] + 1) + 1
    for layer in range(1, n_layer):
        parts = [
            index for index, target in enumerate(split.targets) if target.layer == layer and target.head is not None
        ]
        attention = whole.targets.index(Target("attn", layer))
        for name in ("embed", "heads", "mlps"):
            summed, expected = np.nansum(getattr(split, name)[parts], axis=0), getattr(whole, name)[attention]
            assert np.allclose(summed, np.nan_to_num(expected), atol=1e-6), (variant, layer, name)
    assert np.ptp(split.embed[[i for i, t in enumerate(split.targets) if t.kind == "q" and t.layer == 1]]) > 0

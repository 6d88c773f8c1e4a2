"""Attribution patching: exact where the metric is linear in the site (activation patching's own numbers),
the central finite difference of the metric along the patch elsewhere, the planted head ranked first,
the comparison with activation patching, and the start-up checks of the instance it is compared with."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from snakemake.utils import update_config
from torch import nn

from interpflow.config import ConfigError, validate_config
from interpflow.methods.activation_patching.patching import patch_pairs
from interpflow.methods.attribution_patching.against_patching import against_patching_table, site_correlation
from interpflow.methods.attribution_patching.gradients import attribute_pair, attribute_pairs, metric_gradients
from interpflow.models.hooks import hooked
from interpflow.models.loading import vendored_tokenizer
from interpflow.models.sites import block_site
from interpflow.stores.extraction import extract_activations
from interpflow.stores.prompt_pairs import read_pairs, tokenize_pairs
from tests.conftest import ROOT, TOKENIZER_DIR
from tests.model_zoo import VARIANTS, tiny_model
from tests.unit.test_activation_patching import N_LAYER, OPTIONS, clean_store, planted_circuit, two_pairs


@pytest.fixture(scope="module")
def tokenizer():
    tokenizer = vendored_tokenizer(TOKENIZER_DIR)
    tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


ATP_OPTIONS = {key: OPTIONS[key] for key in OPTIONS if key != "batch_size"} | {"neurons": False, "attention_fix": True}


def estimated(model, tokenizer, path, sites, n_layer=N_LAYER, **options):
    names = [block_site(layer, hook) for hook in sites for layer in range(n_layer)]
    if options.get("neurons"):
        names += [block_site(layer, "mlp.hook_post") for layer in range(n_layer)]
    store = extract_activations(model, tokenizer, read_pairs(path, "clean", OPTIONS).clean, names)
    return attribute_pairs(model, tokenizer, store, path, "clean", ATP_OPTIONS | {"patch_sites": sites} | options)


def test_where_the_metric_is_linear_in_the_site_attribution_patching_is_activation_patching(tokenizer, tmp_path):
    """With the final norm made the identity, the logit difference is linear in the last block's MLP
    update: the first-order estimate is the patch, to float rounding."""
    model = tiny_model("gpt2", True)
    model.transformer.ln_f = nn.Identity()
    path = two_pairs(tmp_path)
    sites = ["hook_mlp_out"]
    store = clean_store(model, tokenizer, path, sites)
    patched = patch_pairs(model, tokenizer, store, path, "clean", OPTIONS | {"patch_sites": sites})["patching"]
    found = estimated(model, tokenizer, path, sites)["patching"]
    last = N_LAYER - 1
    ours, theirs = (table[table["layer"] == last].reset_index(drop=True) for table in (found, patched))
    assert np.allclose(ours["logit_diff"], theirs["logit_diff"], atol=1e-5)
    assert ours["score"].abs().max() > 0.01  # the slots do move the metric
    earlier = np.abs(
        found[found["layer"] < last]["logit_diff"].to_numpy() - patched[patched["layer"] < last]["logit_diff"]
    )
    assert earlier.max() > 1e-4  # before the last block the metric is not linear, and the estimate shows it


def finite_difference(model, ids, site, slot, direction, answer, wrong, step=1e-2) -> float:
    """Central difference of the logit difference along ``direction`` added to ``site`` at ``slot``. The
    step is not smaller because Llama's and Gemma's norms compute in float32 even in a float64 model: a
    step of 1e-4 would divide their rounding (~1e-7) into errors above the tolerance."""

    def metric(scale):
        def shift(value):
            value = value.clone()
            value[(0, *slot)] += scale * direction
            return value

        with torch.no_grad(), hooked(model, {site: shift}):
            logits = model(ids.unsqueeze(0), use_cache=False).logits[0, -1]
        return float(logits[answer] - logits[wrong])

    return (metric(step) - metric(-step)) / (2 * step)


SLOTS = [
    ("hook_resid_pre", 1, (9,)),
    ("hook_attn_out", 0, (10,)),
    ("attn.hook_z", 1, (13, 2)),
    ("hook_mlp_out", 0, (13,)),
]
CASES = [("gpt2", *slot) for slot in SLOTS] + [(variant, *SLOTS[2]) for variant in VARIANTS if variant != "gpt2"]


@pytest.mark.parametrize(("variant", "hook", "layer", "slot"), CASES)
def test_elsewhere_the_estimate_is_the_central_finite_difference_along_the_patch(
    tokenizer, tmp_path, variant, hook, layer, slot
):
    """Every site on perturbed GPT-2, and a head in every other family (Gemma 2's soft-caps included):
    the estimate is the derivative of the model's own logit difference along the patch (float64)."""
    model = tiny_model(variant, True).double()
    path = two_pairs(tmp_path)
    tokens = tokenize_pairs(read_pairs(path, "clean", OPTIONS), tokenizer, " ", path)
    site = block_site(layer, hook)
    clean_ids, corrupted_ids = torch.tensor(tokens.clean[0]), torch.tensor(tokens.corrupted[0])
    answer, wrong = tokens.answers[0], tokens.wrong_answers[0]
    _, clean, _ = metric_gradients(model, clean_ids, [site], answer, wrong)
    _, corrupted, gradients = metric_gradients(model, corrupted_ids, [site], answer, wrong)
    direction = clean[site][slot] - corrupted[site][slot]
    estimate = float((direction * gradients[site][slot]).sum())
    expected = finite_difference(model, corrupted_ids, site, slot, direction, answer, wrong)
    assert abs(expected) > 1e-3  # a slot that matters
    assert estimate == pytest.approx(expected, abs=1e-4)


def test_the_planted_head_is_ranked_first_and_nothing_else_above_a_tenth_of_it(tokenizer, tmp_path):
    model = planted_circuit()
    path = two_pairs(tmp_path)
    heads = estimated(model, tokenizer, path, ["attn.hook_z"], n_layer=2)["patching"].set_index(["layer", "head"])[
        "score"
    ]
    assert heads.abs().idxmax() == (1, 2) and heads[(1, 2)] > 0.5
    assert heads.drop((1, 2)).abs().max() < 0.1 * heads[(1, 2)]


def test_neurons_are_estimated_and_sum_to_their_blocks_mlp_at_the_estimated_positions(tokenizer, tmp_path):
    """An MLP's update is linear in its neurons (the down projection): their estimates add up to the
    estimate of the update at the same positions."""
    model = tiny_model("gpt2", True)
    path = two_pairs(tmp_path)
    tables = estimated(model, tokenizer, path, ["hook_mlp_out"], neurons=True, positions=[9, 13])
    neurons, mlp = tables["neurons"], tables["patching"]
    corrupted = tables["pairs"]["corrupted_logit_diff"].mean()
    by_block = (neurons.groupby("layer")["logit_diff"].sum() - len(neurons) / N_LAYER * corrupted).to_numpy()
    per_block = (mlp.groupby("layer")["logit_diff"].sum() - 2 * corrupted).to_numpy()  # two positions
    assert np.allclose(by_block, per_block, atol=1e-5) and len(neurons) == N_LAYER * 4 * 32
    assert estimated(model, tokenizer, path, ["hook_mlp_out"])["neurons"].empty


def test_against_patching_pairs_each_slot_and_correlates_per_site():
    patched = pd.DataFrame(
        {"site": ["a"] * 3 + ["b"] * 2, "layer": [0, 0, 1, 0, 1], "position": [0, 1, 0, 0, 0], "head": pd.NA}
    ).assign(score=[0.0, 0.5, 1.0, 0.2, 0.4], logit_diff=0.0)
    estimates = patched.sample(frac=1, random_state=0).assign(score=lambda t: 2 * t["score"] + 1)
    table = against_patching_table(estimates, patched)
    assert len(table) == 5 and np.allclose(table["attribution_score"], 2 * table["patching_score"] + 1)
    assert site_correlation(table[table["site"] == "a"]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"activation_patching": "nope"}, "no activation_patching instance 'nope'"),
        ({"positions": [-1]}, "activation_patching.ioi.positions is 'all'"),
        ({"models": ["gpt2", "gpt2-medium"]}, "does not run on gpt2-medium"),
        ({"patch_sites": ["hook_mlp_out"]}, None),  # a subset of the patched sites: accepted
    ],
)
def test_a_compared_patching_instance_that_differs_stops_the_workflow_with_the_key_named(
    project_config, change, message
):
    config = copy.deepcopy(project_config)
    pairs = {"path": str(ROOT / "resources" / "texts" / "ioi_pairs.tsv"), "text_column": "clean"}
    instance = {"models": ["gpt2"], "text": "pairs", "activation_patching": "ioi"} | change
    update_config(
        config,
        {
            "texts": {"pairs": pairs},
            "activation_patching": {"ioi": {"models": ["gpt2"], "text": "pairs"}},
            "attribution_patching": {"ioi": instance},
        },
    )
    if message is None:
        validate_config(config, ROOT)
        return
    with pytest.raises(ConfigError, match=message) as raised:
        validate_config(config, ROOT)
    assert raised.value.key == "attribution_patching.ioi.activation_patching"


def linear_after_the_last_attention(variant: str):
    """A perturbed model whose logit difference is linear in its last block's heads' outputs: the final
    norm is the identity and the last MLP writes a constant (its weights zeroed, its bias kept)."""
    model = tiny_model(variant, True)
    model.transformer.ln_f = nn.Identity()
    with torch.no_grad():
        model.transformer.h[-1].mlp.c_fc.weight.zero_()
        model.transformer.h[-1].mlp.c_proj.weight.zero_()
    return model


@pytest.mark.parametrize("hook", ["attn.hook_q", "attn.hook_k"])
def test_the_attention_fix_gives_the_exact_query_and_key_patch_where_the_rest_is_linear(tokenizer, tmp_path, hook):
    """AtP*: recomputing the softmax exactly, the estimate of patching a head's queries (keys) in the last
    block equals the patch itself; the plain gradient, through the saturated softmax, does not."""
    model = linear_after_the_last_attention("gpt2")
    path = two_pairs(tmp_path)
    tokens = tokenize_pairs(read_pairs(path, "clean", OPTIONS), tokenizer, " ", path)
    layer, positions = N_LAYER - 1, list(range(len(tokens.clean[0])))
    site = block_site(layer, hook)
    clean_ids, corrupted_ids = torch.tensor(tokens.clean[0]), torch.tensor(tokens.corrupted[0])
    answer, wrong = tokens.answers[0], tokens.wrong_answers[0]
    _, clean, _ = metric_gradients(model, clean_ids, [block_site(at, hook) for at in range(N_LAYER)], answer, wrong)
    options = dict(hooks=[hook], n_layer=N_LAYER, positions=positions, answer=answer, wrong=wrong)
    fixed = attribute_pair(model, clean, clean_ids, corrupted_ids, attention_fix=True, **options)
    plain = attribute_pair(model, clean, clean_ids, corrupted_ids, attention_fix=False, **options)

    def patched(head: int) -> float:
        def replace(value):
            value = value.clone()
            value[0, :, head] = clean[site][:, head]
            return value

        with torch.no_grad(), hooked(model, {site: replace}):
            logits = model(corrupted_ids.unsqueeze(0), use_cache=False).logits[0, -1].double()
        return float(logits[answer] - logits[wrong])

    exact = np.array([patched(head) for head in range(4)])
    assert np.allclose(fixed[(hook, layer)], exact, atol=1e-5), (fixed[(hook, layer)], exact)
    corrupted = fixed[("corrupted", 0)][0]
    assert np.abs(exact - corrupted).max() > 1e-3  # the patches matter
    assert np.abs(plain[(hook, layer)] - exact).max() > 1e-4  # and the plain estimate misses them

"""activation_patching: the cached engine against a brute-force loop of plain forward passes with hooks,
the normalization's fixed points, a planted circuit, every family, and the start-up checks of the pairs."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from snakemake.utils import update_config
from transformers import AutoModelForCausalLM

from interpflow.circuits.patch_tables import patching_by_pair_table, patching_table
from interpflow.config import ConfigError, validate_config
from interpflow.methods.activation_patching.method import METHOD
from interpflow.methods.activation_patching.patching import CorruptedRun, Variant, patch_pair, patch_pairs
from interpflow.models.architectures import FAMILIES
from interpflow.models.hooks import hooked
from interpflow.models.loading import vendored_tokenizer
from interpflow.models.sites import block_site
from interpflow.stores.extraction import extract_activations
from interpflow.stores.prompt_pairs import PairError, read_pairs, resolve_positions, tokenize_pairs
from tests.conftest import ROOT, TOKENIZER_DIR
from tests.model_zoo import VARIANTS, tiny_model

PAIRS = ROOT / "resources" / "texts" / "ioi_pairs.tsv"
SITES = ["hook_resid_pre", "hook_attn_out", "hook_mlp_out", "attn.hook_z"]
OPTIONS = {
    "corrupted_column": "corrupted",
    "answer_column": "answer",
    "wrong_answer_column": "wrong_answer",
    "answer_prefix": " ",
    "patch_sites": SITES,
    "positions": "all",
    "batch_size": 16,
}
N_LAYER = 3


@pytest.fixture(scope="module")
def tokenizer():
    tokenizer = vendored_tokenizer(TOKENIZER_DIR)
    tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def two_pairs(tmp_path) -> str:
    """The demo's first two pairs, as their own text set."""
    path = tmp_path / "pairs.tsv"
    pd.read_csv(PAIRS, sep="\t", dtype=str).head(2).to_csv(path, sep="\t", index=False)
    return path


def clean_store(model, tokenizer, path, sites, n_layer=N_LAYER):
    """The clean prompts' activation store, extracted as the workflow does (one padded batch)."""
    names = METHOD.required_sites({"patch_sites": sites}, n_layer)
    return extract_activations(model, tokenizer, read_pairs(path, "clean", OPTIONS).clean, names)


# --- the reference: plain PyTorch hooks on GPT-2's own modules, one full forward pass per patch ----------


def gpt2_module(model, hook: str, layer: int):
    """The module of GPT-2's block ``layer`` whose input (``pre``) or output holds ``hook``."""
    block = model.transformer.h[layer]
    return {
        "hook_resid_pre": (block, "pre"),
        "hook_attn_out": (block.attn, "out"),
        "hook_mlp_out": (block.mlp, "out"),
        "attn.hook_z": (block.attn.c_proj, "pre"),
    }[hook]


@torch.no_grad()
def plain_logit_diff(model, ids, answer, wrong, hook=None, layer=None, replace=None) -> float:
    handles = []
    if hook is not None:
        module, side = gpt2_module(model, hook, layer)
        if side == "pre":
            handles.append(module.register_forward_pre_hook(lambda m, args: (replace(args[0]), *args[1:])))
        else:
            handles.append(
                module.register_forward_hook(
                    lambda m, args, out: (replace(out[0]), *out[1:]) if isinstance(out, tuple) else replace(out)
                )
            )
    try:
        logits = model(torch.tensor([ids])).logits[0, -1].double()
    finally:
        for handle in handles:
            handle.remove()
    return float(logits[answer] - logits[wrong])


@torch.no_grad()
def plain_clean_values(model, ids) -> dict[tuple[str, int], torch.Tensor]:
    """Every patched site of the clean prompt, ``(tokens, width)``, read by plain hooks."""
    values, handles = {}, []
    for hook in SITES:
        for layer in range(N_LAYER):
            module, side = gpt2_module(model, hook, layer)
            key = (hook, layer)
            if side == "pre":
                handles.append(
                    module.register_forward_pre_hook(
                        lambda m, args, key=key: values.__setitem__(key, args[0][0].clone())
                    )
                )
            else:
                handles.append(
                    module.register_forward_hook(
                        lambda m, args, out, key=key: values.__setitem__(
                            key, (out[0] if isinstance(out, tuple) else out)[0].clone()
                        )
                    )
                )
    model(torch.tensor([ids]))
    for handle in handles:
        handle.remove()
    return values


def brute_force(model, tokens, n_heads) -> list[dict[tuple[str, int], np.ndarray]]:
    """Each pair's logit differences (as :func:`patch_pair` gives them), one full forward pass per pair and patch."""
    per_pair = []
    d_head = model.config.n_embd // n_heads
    for index in range(len(tokens.clean)):
        clean_ids, corrupted_ids = tokens.clean[index], tokens.corrupted[index]
        answer, wrong = tokens.answers[index], tokens.wrong_answers[index]
        clean = plain_clean_values(model, clean_ids)
        diffs = {
            ("clean", 0): np.array([plain_logit_diff(model, clean_ids, answer, wrong)]),
            ("corrupted", 0): np.array([plain_logit_diff(model, corrupted_ids, answer, wrong)]),
        }
        for hook in SITES:
            for layer in range(N_LAYER):
                values = []
                slots = range(n_heads) if hook == "attn.hook_z" else range(len(clean_ids))
                for slot in slots:

                    def replace(value, hook=hook, layer=layer, slot=slot, clean=clean):
                        value = value.clone()
                        if hook == "attn.hook_z":
                            heads = slice(slot * d_head, (slot + 1) * d_head)
                            value[0, :, heads] = clean[(hook, layer)][:, heads]
                        else:
                            value[0, slot] = clean[(hook, layer)][slot]
                        return value

                    values.append(plain_logit_diff(model, corrupted_ids, answer, wrong, hook, layer, replace))
                diffs[(hook, layer)] = np.array(values)
        per_pair.append(diffs)
    return per_pair


def test_patching_equals_a_brute_force_loop_of_plain_forward_passes_with_hooks(tokenizer, tmp_path):
    """Over the pairs and pair by pair: the same rows, logit differences within 1e-5, scores within 1e-4."""
    model = tiny_model("gpt2", True)
    path = two_pairs(tmp_path)
    store = clean_store(model, tokenizer, path, SITES)
    tables = patch_pairs(model, tokenizer, store, path, "clean", OPTIONS)
    tokens = tokenize_pairs(read_pairs(path, "clean", OPTIONS), tokenizer, " ", path)
    per_pair, positions = brute_force(model, tokens, model.config.n_head), list(range(len(tokens.clean[0])))
    references = {
        "patching": patching_table(per_pair, SITES, positions),
        "patching_by_pair": patching_by_pair_table(per_pair, SITES, positions),
    }
    assert len(tables["patching"]) == N_LAYER * (3 * 14 + 4)
    assert len(tables["patching_by_pair"]) == 2 * len(tables["patching"])
    for name, reference in references.items():
        table = tables[name]
        assert list(table.columns) == list(reference.columns)
        pd.testing.assert_frame_equal(
            table.drop(columns=["logit_diff", "score"]), reference.drop(columns=["logit_diff", "score"])
        )
        np.testing.assert_allclose(table["logit_diff"], reference["logit_diff"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(table["score"], reference["score"], rtol=0, atol=1e-4)
        assert table["score"].abs().max() > 0.5  # the perturbed model's patches move the answer: not vacuous


def test_the_pair_by_pair_rows_average_to_the_table_and_each_is_scored_by_its_own_pair(tokenizer, tmp_path):
    """By hand from ``pairs.parquet``: a pair's score is ``(patched - corrupted) / (clean - corrupted)`` of
    its own logit differences; the pairs' mean logit difference is ``patching.parquet``'s."""
    model = tiny_model("gpt2", True)
    path = two_pairs(tmp_path)
    store = clean_store(model, tokenizer, path, ["hook_mlp_out"])
    tables = patch_pairs(model, tokenizer, store, path, "clean", OPTIONS | {"patch_sites": ["hook_mlp_out"]})
    by_pair, pairs = tables["patching_by_pair"], tables["pairs"].set_index("pair")
    keys = ["site", "layer", "position"]
    mean = by_pair.groupby(keys)["logit_diff"].mean().reset_index()
    merged = tables["patching"].merge(mean, on=keys, suffixes=("", "_of_pairs"))
    assert len(merged) == len(tables["patching"])
    np.testing.assert_allclose(merged["logit_diff"], merged["logit_diff_of_pairs"], rtol=1e-12, atol=1e-12)
    clean, corrupted = (
        pairs.loc[by_pair["pair"], "clean_logit_diff"],
        pairs.loc[by_pair["pair"], "corrupted_logit_diff"],
    )
    by_hand = (by_pair["logit_diff"].to_numpy() - corrupted.to_numpy()) / (clean.to_numpy() - corrupted.to_numpy())
    np.testing.assert_allclose(by_pair["score"], by_hand, rtol=1e-12, atol=1e-12)
    assert not np.allclose(by_pair.query("pair == 0")["score"], by_pair.query("pair == 1")["score"], atol=1e-3)


def test_noising_is_the_same_pairs_with_the_prompt_columns_swapped(tokenizer, tmp_path):
    """docs/methods.md: a text set whose ``text_column`` is the corrupted prompt, with ``corrupted_column:
    clean``, patches the corrupted prompt's activations into the clean run. Its baselines are the
    denoising run's, swapped, so a score of 1 means the patch alone does all of the corruption's damage."""
    model = tiny_model("gpt2", True)
    path = two_pairs(tmp_path)
    options = OPTIONS | {"patch_sites": ["hook_resid_pre"]}
    store = clean_store(model, tokenizer, path, ["hook_resid_pre"])
    denoising = patch_pairs(model, tokenizer, store, path, "clean", options)["pairs"]
    swapped = options | {"corrupted_column": "clean"}
    corrupted_store = extract_activations(
        model, tokenizer, read_pairs(path, "corrupted", swapped).clean, METHOD.required_sites(swapped, N_LAYER)
    )
    noising = patch_pairs(model, tokenizer, corrupted_store, path, "corrupted", swapped)
    assert noising["pairs"]["clean"].tolist() == denoising["corrupted"].tolist()
    np.testing.assert_allclose(noising["pairs"]["clean_logit_diff"], denoising["corrupted_logit_diff"], atol=1e-5)
    np.testing.assert_allclose(noising["pairs"]["corrupted_logit_diff"], denoising["clean_logit_diff"], atol=1e-5)
    # the prompts differ only in the repeated name, at position 9: at block 0 patching that slot alone runs
    # the corrupted prompt (score 1), patching any other slot changes nothing (0)
    block_0 = noising["patching"].query("layer == 0").set_index("position")["score"]
    np.testing.assert_allclose(block_0[9], 1.0, atol=1e-6)
    assert (block_0.drop(9) == 0).all()


def test_patching_everything_at_block_0_gives_exactly_1_and_nothing_exactly_0(tokenizer, tmp_path):
    model = tiny_model("gpt2", True)
    path = two_pairs(tmp_path)
    store = clean_store(model, tokenizer, path, ["hook_resid_pre"])
    tokens = tokenize_pairs(read_pairs(path, "clean", OPTIONS), tokenizer, " ", path)
    per_pair = []
    for index in range(2):
        rows = store.text_rows(index)
        clean = {block_site(0, "hook_resid_pre"): torch.as_tensor(store[block_site(0, "hook_resid_pre")][rows])}
        run = CorruptedRun(model, torch.as_tensor(tokens.corrupted[index]), clean, batch_size=4)
        answer, wrong = tokens.answers[index], tokens.wrong_answers[index]
        diffs = patch_pair(run, [], N_LAYER, [], answer, wrong)
        # the two patches among others, in other rows of the pass than the baselines
        everything, nothing = Variant(tuple(range(14))), Variant(())
        patched = run.logit_diffs(
            "hook_resid_pre", 0, [Variant((3,)), everything, Variant((10,)), nothing, everything], answer, wrong
        )
        diffs[("hook_resid_pre", 0)] = patched[[1, 3, 4]]
        per_pair.append(diffs)
    scores = patching_table(per_pair, ["hook_resid_pre"], [0, 1, 2])["score"].tolist()
    assert scores == [1.0, 0.0, 1.0]


def planted_circuit():
    """A 2-block GPT-2 where one head, block 1's head 2, moves what the prompts differ in to the last
    position: it attends to every position alike, every other head only to position 0 (the same token
    in both prompts of a pair), through a large query bias and a key read from position 0's embedding."""
    config = FAMILIES["gpt2"].embedded_config(
        {"n_layer": 2, "n_embd": 32, "n_head": 4, "n_positions": 64}, len(vendored_tokenizer(TOKENIZER_DIR)), 50256
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    d, d_head = 32, 8
    with torch.no_grad():
        model.transformer.wte.weight.mul_(10)[:, 0] = 0  # dimension 0 holds position 0 only
        model.transformer.wpe.weight.zero_()[0, 0] = 8.0
        for layer, block in enumerate(model.transformer.h):
            weight, bias = block.attn.c_attn.weight, block.attn.c_attn.bias  # Conv1D: (d, 3d), columns q | k | v
            weight[:, : 2 * d] = 0
            bias[: 2 * d] = 0
            weight[:, 2 * d :] *= 10
            for head in range(4):
                if (layer, head) == (1, 2):
                    continue  # q = 0: uniform attention over the prefix
                bias[head * d_head] = 20.0  # query
                weight[0, d + head * d_head] = 20.0  # key: position 0's dimension 0
            block.attn.c_proj.weight[2 * d_head : 3 * d_head] *= 50 if layer == 1 else 1
    return model


def test_a_planted_head_is_the_one_head_patching_finds(tokenizer, tmp_path):
    model = planted_circuit()
    path = two_pairs(tmp_path)
    sites = ["attn.hook_z", "hook_attn_out"]
    store = clean_store(model, tokenizer, path, sites, n_layer=2)
    tables = patch_pairs(model, tokenizer, store, path, "clean", OPTIONS | {"patch_sites": sites})
    pairs = tables["pairs"]
    assert (pairs["clean_logit_diff"] - pairs["corrupted_logit_diff"]).abs().min() > 0.1  # the prompts' answers differ
    heads = tables["patching"].query("site == 'attn.hook_z'").set_index(["layer", "head"])["score"]
    assert heads[(1, 2)] == pytest.approx(1.0, abs=1e-4)
    assert heads.drop((1, 2)).abs().max() < 0.02
    last = tables["patching"].query("site == 'hook_attn_out' and position == 13").set_index("layer")["score"]
    assert last[1] == pytest.approx(1.0, abs=1e-4) and abs(last[0]) < 0.02


@pytest.mark.parametrize("variant", VARIANTS)
def test_restarting_at_the_patched_block_gives_the_full_hooked_pass_on_every_family(variant, tokenizer, tmp_path):
    model = tiny_model(variant, True)
    path = two_pairs(tmp_path)
    store = clean_store(model, tokenizer, path, SITES)
    options = OPTIONS | {"positions": [1, 10, -1]}
    table = patch_pairs(model, tokenizer, store, path, "clean", options)["patching"]
    tokens = tokenize_pairs(read_pairs(path, "clean", OPTIONS), tokenizer, " ", path)
    index, answer, wrong = 0, tokens.answers[0], tokens.wrong_answers[0]
    rows = store.text_rows(index)
    positions = resolve_positions(options["positions"], 14)
    n_heads = model.config.num_attention_heads

    def full_pass(hook, layer, slot):
        site = block_site(layer, hook)
        clean = torch.as_tensor(store[site][rows])

        def replace(value):
            value = value.clone()
            if hook == "attn.hook_z":
                value[0, positions, slot] = clean[positions, slot]
            else:
                value[0, slot] = clean[slot]
            return value

        with torch.no_grad(), hooked(model, {site: replace}):
            logits = model(torch.tensor([tokens.corrupted[index]])).logits[0, -1].double()
        return float(logits[answer] - logits[wrong])

    clean_values = {site: torch.as_tensor(store[site][rows]) for site in store.sites}
    run = CorruptedRun(model, torch.as_tensor(tokens.corrupted[index]), clean_values, 16)
    diffs = patch_pair(run, SITES, N_LAYER, positions, answer, wrong)
    for hook in SITES:
        for layer in range(N_LAYER):
            slots = range(n_heads) if hook == "attn.hook_z" else positions
            expected = [full_pass(hook, layer, slot) for slot in slots]
            np.testing.assert_allclose(diffs[(hook, layer)], expected, rtol=0, atol=1e-5, err_msg=f"{hook} {layer}")
    assert sorted(table["position"].dropna().unique()) == [1, 10, 13]


# --- the pairs' start-up checks ---------------------------------------------------------------------


def write_pairs(tmp_path, rows) -> str:
    path = tmp_path / "pairs.tsv"
    pd.DataFrame(rows, columns=["clean", "corrupted", "answer", "wrong_answer"]).to_csv(path, sep="\t", index=False)
    return path


@pytest.mark.parametrize(
    ("row", "option", "message"),
    [
        (
            ("The cat sat on the", "The big cat sat on the", "mat", "rug"),
            "corrupted_column",
            "row 2 (line 3): the clean prompt has 5 tokens and the corrupted one 6",
        ),
        (
            ("A cat sat on the mat and", "A dog sat on the mat and", "purred", "rug"),
            "text",
            "row 2 (line 3): its prompts have 7 tokens but the first pair's have 5",
        ),
        (
            ("The dog sat on the", "The cat sat on the", "antidisestablishmentarianism", "rug"),
            "answer_column",
            "is 5 tokens, not one",
        ),
        (("The dog sat on the", "The cat sat on the", "mat", ""), "wrong_answer_column", "has an empty 'wrong_answer'"),
    ],
)
def test_pairs_are_refused_with_the_row_and_the_option_named(tmp_path, tokenizer, row, option, message):
    path = write_pairs(tmp_path, [("The cat sat on the", "The dog sat on the", "mat", "rug"), row])
    with pytest.raises(PairError) as error:
        tokenize_pairs(read_pairs(path, "clean", OPTIONS), tokenizer, " ", path)
    assert error.value.option == option and message in str(error.value)


def test_positions_count_from_the_end_and_outside_ones_are_refused():
    assert resolve_positions([-1, 0, 3, -1], 5) == [0, 3, 4]
    assert resolve_positions("all", 3) == [0, 1, 2]
    with pytest.raises(PairError, match=r"position 5 is outside prompts of 5 tokens") as error:
        resolve_positions([1, 5], 5)
    assert error.value.option == "positions[1]"


@pytest.mark.parametrize(
    ("corrupted", "key"),
    [
        ("The big cat sat on the", "activation_patching.pairs.corrupted_column"),  # 6 tokens against 5
        (None, "activation_patching.pairs.positions[0]"),  # position 7 of 5-token prompts
    ],
)
def test_bad_pairs_stop_the_workflow_at_start_up_with_the_key_named(project_config, tmp_path, corrupted, key):
    rows = [("The cat sat on the", "The dog sat on the", "mat", "rug")]
    if corrupted is not None:
        rows.append(("The cat sat on the", corrupted, "mat", "rug"))
    config = copy.deepcopy(project_config)
    update_config(
        config,
        {
            "texts": {"pairs": {"path": str(write_pairs(tmp_path, rows)), "text_column": "clean"}},
            "activation_patching": {
                "pairs": {"models": ["gpt2"], "text": "pairs", "positions": [7] if corrupted is None else "all"}
            },
        },
    )
    with pytest.raises(ConfigError) as error:
        validate_config(config, ROOT)
    assert error.value.key == key


def test_the_comparison_keeps_each_blocks_strongest_patch_and_draws_every_run():
    from interpflow.methods.activation_patching.comparison import comparison_figure, comparison_table
    from interpflow.runtime.comparison import Run

    def run_table(n_layer):
        rows = [
            ("hook_resid_pre", layer, position, pd.NA, 0.0, 0.1 * layer + 0.2 * position)
            for layer in range(n_layer)
            for position in range(3)
        ]
        rows += [
            ("attn.hook_z", layer, pd.NA, head, 0.0, 0.5 if head == 1 else -0.1)
            for layer in range(n_layer)
            for head in range(2)
        ]
        return pd.DataFrame(rows, columns=["site", "layer", "position", "head", "logit_diff", "score"]).astype(
            {"position": "Int64", "head": "Int64"}
        )

    runs = [Run("a", "small", 3), Run("b", "large", 5)]
    table = comparison_table(runs, patching=[run_table(3), run_table(5)])
    resid = table.query("instance == 'a' and site == 'hook_resid_pre'")
    np.testing.assert_allclose(resid["max_score"], [0.4, 0.5, 0.6])
    assert resid["argmax"].tolist() == [2, 2, 2]
    heads = table.query("instance == 'b' and site == 'attn.hook_z'")
    assert heads["argmax"].tolist() == [1] * 5 and heads["max_score"].tolist() == [0.5] * 5
    assert table.query("instance == 'b'")["relative_depth"].max() == 1.0
    fig = comparison_figure(table)
    labels = {text.get_text() for legend in fig.legends for text in legend.get_texts()}
    assert {"a · small", "b · large"} <= labels and len(fig.axes) == 2

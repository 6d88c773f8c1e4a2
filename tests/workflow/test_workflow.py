"""End to end: the real snakemake on the embedded model, then what reruns after each kind of change.

The shared run is ``overlays/embedded.yaml``: the five lecture instances plus a second instance of
every method, so every rerun test can show that a change to one instance leaves the other alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version as metadata_version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors import safe_open
from safetensors.numpy import load_file

from interpflow.registry import METHODS
from interpflow.runtime import provenance
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.training import LOG_COLUMNS
from interpflow.sae.evaluation.metrics import EVALUATION_COLUMNS, LATENT_COLUMNS
from interpflow.sae.evaluation.spliced import SPLICED_COLUMNS
from interpflow.sae.files import load_sae
from interpflow.stores.corpus_store import CorpusStore
from tests.workflow_helpers import MODEL_STAGES, copy_run, job_blocks, scheduled_jobs, scheduled_runs, snakemake

pytestmark = pytest.mark.e2e

MODEL = "embedded"
N_LAYER = 12
INSTANCES = {  # method -> its instances in the embedded overlay (lecture first)
    "subspace_removal": ["ravel", "coffee"],
    "neuron_contrast": ["him_her", "she_he"],
    "repeated_token_mi": ["coffee", "fruit"],
    "sparse_autoencoder": ["palinka", "coffee"],
    "residual_decomposition": ["plants", "ravel"],
    "streaming_sae": ["demo_topk", "demo_tied"],
}
# The overlay's sweep: an instance per combination of k and latent_factor, each trained and evaluated.
SWEEP = {f"demo_sweep-k={k}-latent_factor={factor}": (k, factor) for k in (4, 16) for factor in (2, 4)}
INSTANCES["streaming_sae"] += list(SWEEP)
ADDED = {
    "activation_patching": ["ioi"],
    "logit_lens": ["ravel"],
    "direct_logit_attribution": ["ioi"],
    "attribution_patching": ["ioi"],
    "edge_attribution_patching": ["ioi"],
}  # one demo instance each
INSTANCES |= ADDED
RD_PLOTS = {"residual_decomposition_decomposition_figure", "residual_decomposition_layer_profile_figure"}
SR_PLOTS = {
    "subspace_removal_inspection_figures",
    "subspace_removal_intervention_figures",
    "subspace_removal_sweep_figure",
}
NC_PLOTS = {"neuron_contrast_figures", "neuron_contrast_sweep_figure"}
SS_PLOTS = {"streaming_sae_figures", "streaming_sae_contexts_page"}
RUN_PLOTS = RD_PLOTS | SR_PLOTS | NC_PLOTS | SS_PLOTS | {"repeated_token_mi_figures", "sparse_autoencoder_figures"}
RUN_PLOTS |= {"activation_patching_figure", "logit_lens_figures", "direct_logit_attribution_figure"}
RUN_PLOTS |= {
    "attribution_patching_figure",
    "attribution_patching_against_patching",
    "edge_attribution_patching_figure",
}
COMPARISONS = {f"{method}_comparison" for method in INSTANCES}
VIEW = "table_view"  # the report's HTML view of a key table, one job per table


def results(workdir, method, instance):
    return workdir / "results" / method / instance / MODEL


@pytest.fixture(scope="module")
def workdir(local_run):
    return local_run.workdir


def overlay(workdir, name, changes) -> str:
    """Write an overlay on top of the embedded one; returns its path relative to ``workdir``."""
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(changes))
    return path.name


def dry_run(workdir, *overlays, args=()):
    return scheduled_jobs(snakemake(workdir, "-n", *args, overlays=("overlays/embedded.yaml", *overlays)).stdout)


def dry_run_instances(workdir, *overlays, args=()) -> set[tuple[str, str]]:
    output = snakemake(workdir, "-n", *args, overlays=("overlays/embedded.yaml", *overlays)).stdout
    return scheduled_runs(output)


def test_every_declared_output_exists(workdir):
    plants = results(workdir, "residual_decomposition", "plants")
    table = pd.read_parquet(plants / "correlations.parquet")
    assert list(table.columns) == ["layer", "comparison", "pearson_r", "n_values", "max_abs_reconstruction_error"]
    assert sorted(table["layer"].unique()) == list(range(N_LAYER))
    assert set(table["comparison"]) == {
        "hs_vs_next_hs",
        "attn_delta_vs_mlp_delta",
        "reconstruction_vs_next_hs",
        "layer_diff_vs_delta_sum",
    }
    errors = table.drop_duplicates("layer").set_index("layer")["max_abs_reconstruction_error"]
    assert (errors.drop(N_LAYER - 1) < 1e-5).all() and errors[N_LAYER - 1] > 1e-2
    values = pd.read_parquet(plants / "comparison_values.parquet")
    assert list(values.columns) == ["layer", "comparison", "x", "y"] and (values["layer"] == 10).all()
    for figure in ("decomposition", "layer_profile"):
        assert (plants / "figures" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (plants / "figures" / f"{figure}.svg").read_bytes()[:2000]
    tokens = pd.read_parquet(workdir / "results" / "activations" / MODEL / "plants.tokens.parquet")
    assert list(tokens.columns) == ["text_id", "position", "token_id", "token"]
    assert "".join(tokens["token"]) == (workdir / "resources" / "texts" / "plants.txt").read_text().strip()
    ravel = pd.read_parquet(results(workdir, "residual_decomposition", "ravel") / "comparison_values.parquet")
    assert (ravel["layer"] == N_LAYER // 2).all()  # the second instance's layer is "middle"


def test_instances_of_different_methods_share_one_store_per_text(workdir):
    """coffee is read by three instances (MI, SAE, subspace removal): one forward pass, one store."""
    stores = sorted(path.name for path in (workdir / "results" / "activations" / MODEL).glob("*.safetensors"))
    texts = ["coffee", "ioi_pairs", "palinka", "plants", "pronoun_sentences", "ravel", "she_he_sentences"]
    assert stores == [f"{text}.safetensors" for text in texts]
    log = (workdir / "logs" / "activations" / MODEL / "coffee.log").read_text()
    assert "blocks.3.mlp.hook_pre" in log and "blocks.0.hook_attn_out" in log and "ln_final.output" in log
    assert "computing on 1 thread(s); MKL_CBWR=AUTO, MKL_DYNAMIC=FALSE" in log  # the thread count, MKL reproducible


def test_subspace_removal_outputs(workdir):
    ravel = results(workdir, "subspace_removal", "ravel")
    n_tokens = len(pd.read_parquet(workdir / "results" / "activations" / MODEL / "ravel.tokens.parquet"))
    hidden = pd.read_parquet(ravel / "hidden_state_impact.parquet")
    assert list(hidden.columns) == ["intervention_layer", "hidden_state", "diff_norm"]
    assert len(hidden) == N_LAYER * (N_LAYER + 1)
    at_middle = hidden[hidden.intervention_layer == N_LAYER // 2].set_index("hidden_state")["diff_norm"]
    assert (at_middle.loc[: N_LAYER // 2] == 0).all() and (at_middle.loc[N_LAYER // 2 + 1 :] > 0).all()
    logit = pd.read_parquet(ravel / "logit_impact.parquet")
    assert list(logit.columns) == ["intervention_layer", "position", "token_id", "token", "delta_logprob"]
    assert len(logit) == N_LAYER * (n_tokens - 1) and logit["position"].min() == 1
    sweep = pd.read_parquet(ravel / "layer_sweep.parquet")
    assert list(sweep.columns) == ["layer", "t_statistic", "p_value", "top_pc_variance_pct"]
    assert sweep["layer"].tolist() == list(range(N_LAYER))
    assert sweep["p_value"].between(0, 1).all() and sweep["top_pc_variance_pct"].between(0, 100).all()
    spectrum = pd.read_parquet(ravel / "inspection_spectrum.parquet")
    assert (spectrum["layer"] == 9).all() and len(spectrum) == n_tokens
    assert (spectrum["variance_pct_original"].diff().dropna() <= 1e-9).all()
    coffee_spectrum = pd.read_parquet(results(workdir, "subspace_removal", "coffee") / "inspection_spectrum.parquet")
    assert (coffee_spectrum["layer"] == N_LAYER // 2).all()  # the default inspection layer: middle
    for figure in (
        "activation_histogram",
        "inspection",
        "hidden_state_impact",
        "cosine_similarity",
        "logit_impact_stem",
        "logit_impact_text",
        "layer_sweep",
    ):
        assert (ravel / "figures" / f"{figure}.png").stat().st_size > 1000
        assert (ravel / "figures" / f"{figure}.svg").stat().st_size > 1000


def test_neuron_contrast_outputs(workdir):
    him_her = results(workdir, "neuron_contrast", "him_her")
    tests = pd.read_parquet(him_her / "neuron_tests.parquet")
    assert list(tests.columns) == ["layer", "neuron", "t_statistic", "p_value", "significant"]
    assert sorted(tests["layer"].unique()) == list(range(N_LAYER))  # sweep: every layer
    assert len(tests) == N_LAYER * 4 * 128
    clusters = pd.read_parquet(him_her / "neuron_clusters.parquet")
    assert list(clusters.columns) == [
        "layer",
        "neuron",
        "tsne_x",
        "tsne_y",
        "dbscan_cluster",
        "kmeans_cluster",
        "t_statistic",
    ]
    significant = tests[tests.significant].set_index(["layer", "neuron"])
    assert set(clusters.set_index(["layer", "neuron"]).index) == set(significant.index)
    summary = pd.read_parquet(him_her / "cluster_summary.parquet")
    assert list(summary.columns) == ["layer", "method", "cluster", "n_units", "mean_t", "mean_abs_t"]
    assert set(summary["method"]) == {"dbscan", "kmeans"}
    kmeans_units = summary[summary.method == "kmeans"].groupby("layer")["n_units"].sum()
    assert (kmeans_units == clusters.groupby("layer").size()).all()
    for figure in ("activations", "example_neuron", "t_values", "tsne", "dbscan", "dbscan_similarity", "kmeans"):
        assert (him_her / "figures" / "layer5" / f"{figure}.png").stat().st_size > 1000
    assert (him_her / "figures" / "layer_sweep.svg").stat().st_size > 1000
    she_he = results(workdir, "neuron_contrast", "she_he")
    activations = load_file(she_he / "target_activations.safetensors")
    assert set(activations) == {"first_group", f"layer_{N_LAYER // 2}"}  # layers: [middle]
    assert activations["first_group"].sum() == 24 and len(activations["first_group"]) == 48  # the .csv's she rows


def test_repeated_token_mi_outputs(workdir):
    coffee = results(workdir, "repeated_token_mi", "coffee")
    pairs = pd.read_parquet(coffee / "pairwise_mi.parquet")
    assert list(pairs.columns) == [
        "layer",
        "sublayer",
        "estimator",
        "token_i",
        "token_j",
        "position_i",
        "position_j",
        "distance",
        "mi",
    ]
    n_targets = 7  # " coffee" in resources/texts/coffee.txt
    assert len(pairs) == N_LAYER * 2 * 2 * n_targets * (n_targets - 1) // 2
    assert (pairs["distance"] == pairs["position_j"] - pairs["position_i"]).all() and (pairs["distance"] > 0).all()
    tokens = pd.read_parquet(workdir / "results" / "activations" / MODEL / "coffee.tokens.parquet")
    assert set(tokens.loc[pairs["position_i"], "token"]) == {" coffee"}
    summary = pd.read_parquet(coffee / "layer_summary.parquet")
    assert list(summary.columns) == ["layer", "sublayer", "estimator", "mean_mi", "kendall_tau", "kendall_p"]
    assert len(summary) == N_LAYER * 4
    tests = pd.read_parquet(coffee / "sublayer_tests.parquet")
    assert list(tests.columns) == ["layer", "estimator", "test", "statistic", "p_value", "p_fdr", "significant"]
    assert set(tests["test"]) == {"t", "z"} and (tests["p_fdr"] >= tests["p_value"] - 1e-12).all()
    for figure in ("one_layer", "example_pair", "layers_histogram", "layers_knn", "estimators"):
        assert (coffee / "figures" / f"{figure}.png").stat().st_size > 1000
    fruit = pd.read_parquet(results(workdir, "repeated_token_mi", "fruit") / "pairwise_mi.parquet")
    palinka_tokens = pd.read_parquet(workdir / "results" / "activations" / MODEL / "palinka.tokens.parquet")
    assert set(palinka_tokens.loc[fruit["position_i"], "token"]) == {" fruit"}
    assert len(fruit) == N_LAYER * 2 * 2 * 6 * 5 // 2  # six " fruit" in the palinka text


def test_sparse_autoencoder_outputs(workdir):
    palinka = results(workdir, "sparse_autoencoder", "palinka")
    run = json.loads((palinka / "sae_config.json").read_text())
    width = 4 * 128  # mlp.hook_pre of the embedded model
    sae = run["sae"]
    assert sae["site"] == f"blocks.{N_LAYER // 2}.mlp.hook_pre" and sae["latent_dim"] == 2 * width
    assert (sae["variant"], sae["k"], run["training"]) == (
        "tied_ksparse",
        width // 3,
        {"epochs": 100, "dtype": "float32"},
    )
    assert (run["instance"], run["model"]) == ("palinka", MODEL)
    evaluation = pd.read_parquet(palinka / "evaluation.parquet")
    assert list(evaluation.columns) == EVALUATION_COLUMNS and 0 < evaluation["fvu"].iloc[0] < 1
    log = pd.read_parquet(palinka / "training_log.parquet")
    assert list(log.columns) == LOG_COLUMNS  # the same schema as the streaming SAE's
    assert len(log) == 100 and log["loss"].iloc[-1] < log["loss"].iloc[0]
    latents = load_file(palinka / "latents.safetensors")["latents"]
    active = (latents != 0).sum(axis=1)  # k kept, fewer where fewer than k pre-activations are positive
    assert active.max() == width // 3 and (active <= width // 3).all()
    model, config = load_sae(palinka / "sae.safetensors")
    assert model.W_enc.shape == (2 * width, width) and config == SAEConfig.from_dict(sae)
    scores = pd.read_parquet(palinka / "latents.parquet")
    assert list(scores.columns) == [*LATENT_COLUMNS, "geo_score"]
    assert len(scores) == 2 * width and (scores["geo_score"] > 0).any()
    for name in ("heatmap_activity", "heatmap_density", "heatmap_score"):
        page = (palinka / "figures" / f"{name}.html").read_text()
        assert page.count('class="token"') == latents.shape[0] and "title=" in page
        assert (palinka / "figures" / f"{name}.png").stat().st_size > 1000
    for figure in ("loss_curves", "latent_activations", "latent_statistics"):
        assert (palinka / "figures" / f"{figure}.svg").stat().st_size > 1000
    exported = json.loads((palinka / "saelens" / "cfg.json").read_text())
    assert (exported["d_in"], exported["d_sae"], exported["k"]) == (width, 2 * width, width // 3)
    assert exported["metadata"]["dataset_path"] == "palinka" and exported["metadata"]["prepend_bos"] is False
    assert exported["metadata"]["hf_hook_name"] is None  # no module outputs the MLP's pre-activations
    coffee = results(workdir, "sparse_autoencoder", "coffee")
    assert json.loads((coffee / "sae_config.json").read_text())["sae"]["site"] == "blocks.3.mlp.hook_pre"
    assert "coffee_words_score" in pd.read_parquet(coffee / "latents.parquet").columns


CORPUS_STORE = "results/activations/embedded/demo_corpus"


def test_streaming_sae_outputs(workdir):
    manifest = json.loads((workdir / CORPUS_STORE / "manifest.json").read_text())
    middle = N_LAYER // 2
    # One store for both SAEs: the residual stream and the MLP neurons of the middle block.
    assert manifest["sites"] == {f"blocks.{middle}.hook_resid_pre": 128, f"blocks.{middle}.mlp.hook_pre": 512}
    assert len(manifest["shards"]) == 4 and manifest["model"]["weights_sha256"]
    topk = results(workdir, "streaming_sae", "demo_topk")
    log = pd.read_parquet(topk / "training_log.parquet")
    assert list(log.columns) == LOG_COLUMNS
    assert log["step"].iloc[-1] == 2000 and (log["l0"] == 8).all() and (log["l1"] == 0).all()
    assert log["fvu"].iloc[-5:].mean() < log["fvu"].iloc[:5].mean()
    evaluation = pd.read_parquet(topk / "evaluation.parquet")
    assert list(evaluation.columns) == EVALUATION_COLUMNS + SPLICED_COLUMNS
    store = CorpusStore(workdir / CORPUS_STORE / "manifest.json")
    heldout = np.asarray(store.token_ids(3, list(range(store.windows(3)))))
    assert heldout.shape == (manifest["shards"][3]["windows"], 32)
    # the held-out tokens but the special ones (each window's BOS, the EOS between documents: GPT-2's one id)
    assert evaluation["tokens"].iloc[0] == int((heldout != 50256).sum()) < heldout[:, 1:].size
    assert 0 < evaluation["fvu"].iloc[0] < 1
    latents = pd.read_parquet(topk / "latents.parquet")
    assert list(latents.columns) == [*LATENT_COLUMNS, "food_score"] and len(latents) == 512
    assert SAEConfig.from_dict(json.loads((topk / "sae_config.json").read_text())["sae"]).variant == "topk"
    contexts = pd.read_parquet(topk / "top_contexts.parquet")
    assert contexts.groupby("latent").size().max() == 5 and (contexts["activation"] > 0).all()
    assert (contexts["shard"] == 3).all()
    page = (topk / "tables" / "top_contexts.html").read_text()
    assert page.count("<tr>") == min(1000, int((latents["density"] > 0).sum())) + 1
    assert page.count("<mark>") == len(contexts[contexts["latent"].isin(latents.loc[latents["density"] > 0, "latent"])])
    # Latent pages: each latent's histogram counts its held-out firings; each context is shaded token by token.
    histograms = pd.read_parquet(topk / "activation_histograms.parquet")
    fired = latents.set_index("latent")["density"]
    fired = (fired[fired > 0] * evaluation["tokens"].iloc[0]).round().astype(int)
    pd.testing.assert_series_equal(histograms.groupby("latent")["count"].sum(), fired, check_names=False)
    shading = pd.read_parquet(topk / "context_activations.parquet")
    activating = shading[shading["offset"] == 0].merge(contexts, on=["latent", "rank"], suffixes=("", "_top"))
    assert len(activating) == len(contexts) and len(shading) > 3 * len(contexts)
    np.testing.assert_allclose(activating["activation"], activating["activation_top"], rtol=1e-6)
    assert (activating["token"] == activating["token_top"]).all()
    logits = pd.read_parquet(topk / "logit_tokens.parquet")
    assert len(logits) == 512 * 2 * 10 and (logits.query("direction == 'top'")["logit"] > 0).all()
    batches = sorted((topk / "neuronpedia").glob("batch-*.json"))
    features = [feature for batch in batches for feature in json.loads(batch.read_text())["features"]]
    assert [feature["feature_index"] for feature in features] == list(range(512)) and len(batches) == 4
    assert pd.read_parquet(results(workdir, "streaming_sae", "demo_tied") / "logit_tokens.parquet").empty  # neurons
    exported = json.loads((topk / "saelens" / "cfg.json").read_text())
    meta = exported["metadata"]
    assert (exported["architecture"], exported["d_in"], exported["d_sae"], exported["k"]) == ("topk", 128, 512, 8)
    assert (meta["hook_name"], meta["model_name"], meta["dataset_path"]) == (
        f"blocks.{middle}.hook_resid_pre",
        MODEL,
        "demo_corpus",
    )
    assert (meta["context_size"], meta["prepend_bos"], meta["hf_hook_name"]) == (
        32,
        True,
        f"transformer.h.{middle - 1}",
    )
    assert meta["interpflow"]["provenance"]["stage"]["rule"] == "streaming_sae_train"
    sparsity = load_file(topk / "saelens" / "sparsity.safetensors")["sparsity"]
    np.testing.assert_allclose(sparsity, np.log10(latents["density"] + 1e-10), rtol=1e-6)
    tied = results(workdir, "streaming_sae", "demo_tied")
    assert "food_score" not in pd.read_parquet(tied / "latents.parquet").columns
    assert not list((workdir / "results" / "streaming_sae").rglob("checkpoint.safetensors"))  # removed when done


def test_streaming_sae_evaluation_as_the_field_reports_it(workdir):
    """The spliced metrics in every corpus SAE's evaluation, and the same row as SAEBench's core result."""
    for instance in INSTANCES["streaming_sae"]:
        evaluation = pd.read_parquet(results(workdir, "streaming_sae", instance) / "evaluation.parquet").iloc[0]
        assert evaluation["explained_variance"] == pytest.approx(1 - evaluation["fvu"])
        assert evaluation["frac_alive"] == pytest.approx(1 - evaluation["dead_fraction"])
        # 9 held-out windows of 32: the means skip every special token (each window's BOS, the EOS between
        # documents); the last position of a window predicts nothing in it, but its KL counts
        assert evaluation["spliced_tokens"] == 9 * 32
        assert evaluation["spliced_kl_positions"] == evaluation["tokens"] < 9 * 31
        assert evaluation["tokens"] - 9 <= evaluation["spliced_predictions"] < evaluation["tokens"]
        assert evaluation["kl_div_with_ablation"] > evaluation["kl_div_with_sae"] > 0
        assert evaluation["ce_loss_with_ablation"] != evaluation["ce_loss_without_sae"]
    topk = results(workdir, "streaming_sae", "demo_topk")
    evaluation = pd.read_parquet(topk / "evaluation.parquet").iloc[0]
    core = json.loads((topk / "core_eval_results.json").read_text())
    assert core["eval_type_id"] == "core" and core["sae_lens_id"] == f"demo_topk/{MODEL}"
    metrics = core["eval_result_metrics"]
    assert metrics["model_performance_preservation"]["ce_loss_score"] == evaluation["ce_loss_score"]
    assert metrics["model_behavior_preservation"]["kl_div_score"] == evaluation["kl_div_score"]
    assert metrics["reconstruction_quality"]["explained_variance"] == evaluation["explained_variance"]
    assert metrics["sparsity"] == {"l0": 8.0, "l1": evaluation["l1"]}
    assert metrics["token_stats"] == {
        "total_tokens_eval_reconstruction": 9 * 32,
        "total_tokens_eval_sparsity_variance": 9 * 32,
    }
    assert core["eval_config"]["context_size"] == 32 and core["eval_config"]["dataset"] == "demo_corpus"
    assert core["eval_config"]["exclude_special_tokens_from_reconstruction"] is True  # the default
    assert core["eval_config"]["ignored_token_ids"] == [50256] and core["eval_config"]["llm_dtype"] == "float32"
    assert core["sae_lens_version"] and "get_recons_loss" in core["eval_config"]["metric_definitions"]


def test_activation_patching_runs_from_the_clean_prompts_store(workdir):
    """The demo's prompt pairs differ first at position 9 (the repeated name): patching an earlier
    position changes nothing (block 0: exactly); the clean prompts' store holds what it patches."""
    ioi = results(workdir, "activation_patching", "ioi")
    patching, pairs = pd.read_parquet(ioi / "patching.parquet"), pd.read_parquet(ioi / "pairs.parquet")
    assert list(patching.columns) == ["site", "layer", "position", "head", "logit_diff", "score"]
    assert len(patching) == N_LAYER * (3 * 14 + 4) and len(pairs) == 6
    by_pair = pd.read_parquet(ioi / "patching_by_pair.parquet")
    assert list(by_pair.columns) == ["site", "layer", "position", "head", "pair", "logit_diff", "score"]
    assert len(by_pair) == 6 * len(patching) and set(by_pair["pair"]) == set(pairs["pair"])
    per_position = patching[patching["site"] != "attn.hook_z"]
    before = per_position[per_position["position"] < 9]
    assert (before[before["layer"] == 0]["score"] == 0).all()  # the same embeddings, bit for bit
    # later blocks: the store's clean rows come from a padded batch, the corrupted run from a pass of its own
    assert before["score"].abs().max() < 1e-4
    assert per_position[per_position["position"] >= 9]["score"].abs().max() > 0.1
    assert (pairs["clean_logit_diff"] != pairs["corrupted_logit_diff"]).all()
    store = safe_open(workdir / "results" / "activations" / MODEL / "ioi_pairs.safetensors", "np")
    assert {f"blocks.{N_LAYER - 1}.attn.hook_z", "blocks.0.hook_resid_pre"} <= set(store.keys())
    assert (ioi / "figures" / "patching.png").is_file() and (ioi / "tables" / "patching.html").is_file()
    comparison = pd.read_parquet(workdir / "results" / "activation_patching" / "comparison.parquet")
    assert len(comparison) == 4 * N_LAYER


def test_attribution_patching_estimates_the_patching_of_the_same_pairs_and_is_drawn_against_it(workdir):
    """The demo's estimate of activation patching's table, slot for slot, from the same clean store: the
    baselines are the same runs, the slots before the pairs differ (position 9) estimate 0 exactly, and
    the comparison with the patched scores holds every slot."""
    ioi, patching = results(workdir, "attribution_patching", "ioi"), results(workdir, "activation_patching", "ioi")
    estimated, patched = pd.read_parquet(ioi / "patching.parquet"), pd.read_parquet(patching / "patching.parquet")
    assert list(estimated.columns) == list(patched.columns)
    queries_keys = estimated["site"].isin(["attn.hook_q", "attn.hook_k"])
    assert queries_keys.sum() == 2 * N_LAYER * 4 and len(estimated) - queries_keys.sum() == len(patched)
    pairs, patched_pairs = pd.read_parquet(ioi / "pairs.parquet"), pd.read_parquet(patching / "pairs.parquet")
    for baseline in ("clean_logit_diff", "corrupted_logit_diff"):
        assert np.allclose(pairs[baseline], patched_pairs[baseline], atol=1e-4)
    per_position = estimated[estimated["position"].notna()]
    before = per_position[per_position["position"] < 9]
    assert (before[before["layer"] == 0]["score"] == 0).all()  # the prompts agree there: the same embeddings
    assert before["score"].abs().max() < 1e-4  # later: the store's clean rows come from a padded batch
    against = pd.read_parquet(ioi / "against_patching.parquet")
    assert len(against) == len(patched) and against["attribution_score"].notna().all()
    assert pd.read_parquet(ioi / "neurons.parquet").empty  # neurons not asked for
    for figure in ("patching", "against_patching"):
        assert (ioi / "figures" / f"{figure}.png").is_file()
    assert (workdir / "results" / "attribution_patching" / "comparison.png").is_file()


def test_edge_attribution_patching_scores_every_edge_and_keeps_the_largest_as_the_circuit(workdir):
    """Every edge of the embedded model's graph once (from the embedding, each head and each MLP to every
    later attention, MLP and the logits), the 20 largest by |score| in the circuit, the pairs' baselines
    those of activation patching."""
    ioi = results(workdir, "edge_attribution_patching", "ioi")
    edges, pairs = pd.read_parquet(ioi / "edges.parquet"), pd.read_parquet(ioi / "pairs.parquet")
    n_head = 4
    # block L's attention reads the embedding and blocks < L; its MLP those and block L's heads; the logits all
    expected = sum(1 + layer * (n_head + 1) for layer in range(N_LAYER))
    expected += sum(1 + layer * (n_head + 1) + n_head for layer in range(N_LAYER)) + 1 + N_LAYER * (n_head + 1)
    assert len(edges) == expected and (edges["target"] == "logits").sum() == 1 + N_LAYER * (n_head + 1)
    keys = ["source", "source_layer", "source_head", "target", "target_layer"]
    assert not edges.duplicated(keys).any() and set(edges["target"]) == {"attn", "mlp", "logits"}
    strongest = edges["score"].abs().sort_values(ascending=False)
    assert edges["in_circuit"].sum() == 20 and edges.loc[strongest.index[:20], "in_circuit"].all()
    patched = pd.read_parquet(results(workdir, "activation_patching", "ioi") / "pairs.parquet")
    assert np.allclose(pairs["corrupted_logit_diff"], patched["corrupted_logit_diff"], atol=1e-4)
    assert (ioi / "figures" / "circuit.png").is_file() and (ioi / "tables" / "edges.html").is_file()
    assert (workdir / "results" / "edge_attribution_patching" / "comparison.png").is_file()


def test_direct_logit_attribution_parts_sum_to_each_pairs_logit_difference(workdir):
    """The demo's pairs through the embedded model: every head, block and neuron term, the parts summing to
    each pair's logit difference, the pairs' clean prompts read from the store activation_patching reads."""
    ioi = results(workdir, "direct_logit_attribution", "ioi")
    table, pairs = pd.read_parquet(ioi / "attribution.parquet"), pd.read_parquet(ioi / "pairs.parquet")
    assert list(table.columns) == ["component", "layer", "head", "neuron", "part", "attribution", "fraction"]
    counts = table["component"].value_counts().to_dict()
    n_head, d_mlp = 4, 4 * 128
    assert counts == {
        "embed": 1,
        "head": N_LAYER * n_head,
        "attn_bias": N_LAYER,
        "attn": N_LAYER,
        "mlp": N_LAYER,
        "neuron": N_LAYER * d_mlp,
        "mlp_bias": N_LAYER,
        "final_norm_bias": 1,
        "unembed_bias": 1,
    }
    assert len(pairs) == 6 and np.allclose(pairs["parts_sum"], pairs["logit_diff"], atol=1e-5)
    assert table.loc[table["part"], "attribution"].sum() == pytest.approx(pairs["logit_diff"].mean(), abs=1e-5)
    by_pair = pd.read_parquet(ioi / "attribution_by_pair.parquet")
    assert len(by_pair) == 6 * len(table) and set(by_pair["pair"]) == set(pairs["pair"])
    patched = pd.read_parquet(results(workdir, "activation_patching", "ioi") / "pairs.parquet")
    assert np.allclose(pairs["logit_diff"], patched["clean_logit_diff"], atol=1e-4)  # the same clean runs
    assert (ioi / "figures" / "attribution.png").is_file() and (ioi / "tables" / "attribution.html").is_file()
    comparison = pd.read_parquet(workdir / "results" / "direct_logit_attribution" / "comparison.parquet")
    assert len(comparison) == 2 * N_LAYER and set(comparison["component"]) == {"attn", "mlp"}


def test_logit_lens_reads_every_layer_and_ends_at_the_models_prediction(workdir):
    ravel = results(workdir, "logit_lens", "ravel")
    lens, top = pd.read_parquet(ravel / "lens.parquet"), pd.read_parquet(ravel / "top_tokens.parquet")
    n_tokens = len(pd.read_parquet(workdir / "results" / "activations" / MODEL / "ravel.tokens.parquet"))
    assert len(lens) == (N_LAYER + 1) * n_tokens and len(top) == 5 * len(lens)
    assert (lens.loc[lens["layer"] == N_LAYER, "kl_to_final"] == 0).all() and (lens["kl_to_final"] >= 0).all()
    assert lens["target_prob"].notna().all()  # the demo follows " composer"
    assert set(lens["site"]) == {f"blocks.{i}.hook_resid_pre" for i in range(N_LAYER)} | {
        f"blocks.{N_LAYER - 1}.hook_resid_post"
    }
    for figure in ("top_tokens", "by_layer"):
        assert (ravel / "figures" / f"{figure}.png").is_file()
    assert (workdir / "results" / "logit_lens" / "comparison.png").is_file()


def test_a_sweep_trains_and_evaluates_one_sae_per_combination_from_one_store(workdir):
    manifests = list((workdir / "results" / "activations").rglob("manifest.json"))
    assert len(manifests) == 1  # the corpus was extracted once for every SAE
    for instance, (k, factor) in SWEEP.items():
        run = results(workdir, "streaming_sae", instance)
        record = json.loads((run / "sae_config.json").read_text())
        assert (record["sae"]["k"], record["sae"]["latent_dim"]) == (k, factor * 128)
        assert record["sae"]["auxk_coefficient"] == 0.03125 and record["instance"] == instance
        assert pd.read_parquet(run / "evaluation.parquet")["l0"].iloc[0] == k
        assert not (run / "saelens").exists() and not (run / "figures").exists()  # a point: trained and evaluated
    logs = [pd.read_parquet(results(workdir, "streaming_sae", instance) / "training_log.parquet") for instance in SWEEP]
    assert any((log["auxk"] > 0).any() for log in logs)  # AuxK on: it worked wherever latents were dead
    table = pd.read_parquet(workdir / "results" / "streaming_sae" / "comparison.parquet")
    runs = table.drop_duplicates("instance").set_index("instance")
    assert set(runs.loc[list(SWEEP), "sweep"]) == {"demo_sweep"} and runs.loc["demo_topk", "sweep"] == "demo_topk"
    assert sorted(runs.loc[list(SWEEP), "latents"].unique()) == [256, 512]
    assert runs.loc[list(SWEEP), "heldout_l0"].tolist() == [k for k, _ in SWEEP.values()]


def test_corpus_shards_are_separate_jobs_and_sae_changes_do_not_reextract(workdir):
    forced = dry_run(workdir, args=("--forcerun", "tokenize_corpus"))
    assert forced["extract_corpus_shard"] == 4 and forced["corpus_manifest"] == 1
    assert forced["streaming_sae_train"] == 2 + len(SWEEP)
    # A third SAE on a stored site, of another size and k: only its own stages and the comparison.
    another = {
        "streaming_sae": {
            "wide": {"models": ["embedded"], "corpus": "demo_corpus", "sae": {"latent_factor": 8, "k": 16}}
        }
    }
    assert set(dry_run(workdir, overlay(workdir, "wide", another))) == {
        "streaming_sae_train",
        "streaming_sae_evaluate",
        "streaming_sae_logit_tokens",
        "streaming_sae_figures",
        "streaming_sae_contexts_page",
        "streaming_sae_saelens_export",
        "streaming_sae_neuronpedia_export",
        "streaming_sae_comparison",
        VIEW,
    }
    # A site the store lacks: every shard is extracted again (one forward pass for all three sites).
    another["streaming_sae"]["wide"]["site"] = "hook_resid_post"
    rerun = dry_run(workdir, overlay(workdir, "post", another))
    assert rerun["extract_corpus_shard"] == 4 and "tokenize_corpus" not in rerun


def test_a_sweeps_points_train_as_independent_jobs(workdir):
    """The sweep's target makes every point, each trained in a job of its own that reads only the store: no
    point waits for another, so a cluster runs them side by side (each job its own sbatch on SLURM:
    tests/platform/test_cluster.py::test_every_stage_ran_as_a_slurm_job)."""
    forced = (
        "streaming_sae__demo_sweep",
        "--forcerun",
        "streaming_sae_train",
    )  # the target first: --forcerun takes a list
    output = snakemake(workdir, "-n", *forced).stdout
    trainings = [
        block for block in re.split(r"\n(?=\[.*\d{4}\]\n)", output) if re.search(r"rule streaming_sae_train:", block)
    ]
    assert {re.search(r"instance=([^,\s]+)", block).group(1) for block in trainings} == set(SWEEP)
    for block in trainings:
        inputs = re.search(r"input: (.*)", block).group(1).split(", ")
        assert [path for path in inputs if not path.startswith(("src/", "scripts/"))] == [
            f"{CORPUS_STORE}/manifest.json"
        ]
    assert dry_run(workdir, args=forced) == {
        "streaming_sae_train": len(SWEEP),
        "streaming_sae_evaluate": len(SWEEP),
        VIEW: len(SWEEP),
        "streaming_sae__demo_sweep": 1,
    }


def test_a_models_dtype_stores_its_weights_once_and_reruns_its_model_stages_not_its_build(workdir):
    jobs = dry_run(workdir, overlay(workdir, "bfloat16", {"models": {MODEL: {"dtype": "bfloat16"}}}))
    assert jobs["extract_activations"] == 7 and jobs["extract_corpus_shard"] == 4
    assert jobs["activation_patching_patch"] == 1 and jobs["logit_lens_lens"] == 1
    assert jobs["subspace_removal_interventions"] == 2 and jobs["streaming_sae_logit_tokens"] == 2
    assert "build_embedded_model" not in jobs and "tokenize_corpus" not in jobs  # the same weights and tokens
    assert jobs["store_model_in_dtype"] == 1  # stored once in bfloat16, read by every model stage


def test_an_sae_dtype_is_recorded_and_retrains_that_sae_and_what_reads_it_only(workdir):
    """``sae.dtype`` of both SAE methods: in ``sae_config.json``'s training record, and a change reruns
    training (and what reads the SAE), never the extraction."""
    for method, instance in (("streaming_sae", "demo_topk"), ("sparse_autoencoder", "palinka")):
        saved = json.loads((results(workdir, method, instance) / "sae_config.json").read_text())
        assert saved["training"]["dtype"] == "float32", method
    change = {"streaming_sae": {"demo_topk": {"sae": {"dtype": "bfloat16"}}}}
    jobs = dry_run(workdir, overlay(workdir, "sae_bfloat16", change))
    assert jobs["streaming_sae_train"] == 1 and jobs["streaming_sae_evaluate"] == 1
    assert not {"extract_corpus_shard", "tokenize_corpus", "store_model_in_dtype"} & set(jobs)
    change = {"sparse_autoencoder": {"palinka": {"sae": {"dtype": "bfloat16"}}}}
    jobs = dry_run(workdir, overlay(workdir, "full_batch_bfloat16", change))
    assert jobs["sparse_autoencoder_train"] == 1 and "extract_activations" not in jobs


def test_a_bfloat16_trained_sae_has_the_held_out_fvu_of_the_float32_one_within_2_percent(workdir):
    """The demo corpus's TopK SAE trained again from the run's own store, float32 and ``sae.dtype: bfloat16``
    (the products under autocast) on a quarter of its schedule (bfloat16 products are slow on a CPU without
    bfloat16 instructions), evaluated on the held-out shard as the workflow's evaluation does."""
    import dataclasses

    from interpflow.methods.streaming_sae.evaluation import evaluate
    from interpflow.sae.core.streaming import StreamingSchedule, heldout_shards, train_streaming

    run = results(workdir, "streaming_sae", "demo_topk")
    saved = json.loads((run / "sae_config.json").read_text())
    store = CorpusStore(workdir / CORPUS_STORE / "manifest.json")
    vocabulary = pd.read_parquet(workdir / CORPUS_STORE / "vocabulary.parquet")["token"].tolist()
    quarter = dataclasses.replace(
        StreamingSchedule(**saved["training"]), token_budget=saved["training"]["token_budget"] // 4
    )
    config = SAEConfig.from_dict(saved["sae"])
    float32, _ = train_streaming(store, config, quarter)
    schedule = dataclasses.replace(quarter, dtype="bfloat16")
    trained, _ = train_streaming(store, config, schedule)
    assert all(parameter.dtype == torch.float32 for parameter in trained.parameters())  # float32 master weights
    assert not torch.allclose(trained.W_enc, float32.W_enc, atol=1e-4)  # really computed in bfloat16

    def heldout_fvu(sae) -> float:
        shards = heldout_shards(store, schedule.heldout_shards)
        table = evaluate(sae, store, saved["sae"]["site"], shards, vocabulary, special_ids=[50256])["evaluation"]
        return float(table["fvu"].iloc[0])

    workflows, _ = load_sae(run / "sae.safetensors")
    assert heldout_fvu(workflows) == pytest.approx(pd.read_parquet(run / "evaluation.parquet")["fvu"].iloc[0], rel=1e-6)
    reference, found = heldout_fvu(float32), heldout_fvu(trained)  # the evaluation above is the workflow's
    print(f"held-out fvu: float32 {reference:.5f}, bfloat16 {found:.5f} ({found / reference - 1:+.2%})")
    assert abs(found / reference - 1) < 0.02, (found, reference)


@pytest.mark.parametrize("method", list(INSTANCES))
def test_each_method_compares_all_its_runs(workdir, method):
    table = pd.read_parquet(workdir / "results" / method / "comparison.parquet")
    assert list(table.columns[:3]) == ["instance", "model", "n_layer"]
    assert sorted(table["instance"].unique()) == sorted(INSTANCES[method]) and set(table["model"]) == {MODEL}
    if "layer" in table:
        assert table["relative_depth"].between(0, 1).all()
    for ext in ("png", "svg"):
        assert (workdir / "results" / method / f"comparison.{ext}").stat().st_size > 5000


def test_comparisons_read_cached_tables_only(workdir):
    """A comparison job's inputs are result tables of its method: no model, no activation store."""
    blocks = job_blocks(snakemake(workdir, "-n", "--forceall", *sorted(COMPARISONS)).stdout)
    for rule in COMPARISONS:
        inputs = re.search(r"input: (.*)", blocks[rule]).group(1).split(", ")
        method = rule.removesuffix("_comparison")
        assert all(path.startswith(f"results/{method}/") or path.startswith("src/") for path in inputs), inputs
        assert not [path for path in inputs if "activations" in path or path.startswith("models/")]


def test_resolved_config_has_every_default(workdir):
    resolved = yaml.safe_load((workdir / "results" / "resolved_config.yaml").read_text())
    assert resolved["repeated_token_mi"]["fruit"]["bins"] == 15  # a default the overlay does not state
    assert resolved["subspace_removal"]["coffee"]["inspection_layer"] == "middle"


def test_neuron_contrast_statistics_are_deterministic(workdir):
    him_her = results(workdir, "neuron_contrast", "him_her")
    tables = ["neuron_tests.parquet", "neuron_clusters.parquet", "cluster_summary.parquet"]
    before = {name: (him_her / name).read_bytes() for name in tables}
    target = str((him_her / "neuron_tests.parquet").relative_to(workdir))
    snakemake(workdir, "--forcerun", "neuron_contrast_statistics", "--until", target)
    for name in tables:
        same = (him_her / name).read_bytes() == before[name]  # a bool: no diff of megabytes on failure
        assert same, f"{name} differs on a second run"
        assert provenance.read(him_her / name)["stage"]["rule"] == "neuron_contrast_statistics"  # metadata too


def test_every_stage_writes_a_log(workdir):
    logs = {path.relative_to(workdir / "logs").as_posix() for path in (workdir / "logs").rglob("*.log")}
    assert {
        "models/build_embedded.log",
        "activations/embedded/plants.log",
        "residual_decomposition/plants/embedded/statistics.log",
        "residual_decomposition/ravel/embedded/statistics.log",
        "repeated_token_mi/coffee/embedded/statistics.log",
        "neuron_contrast/him_her/embedded/statistics.log",
        "subspace_removal/ravel/embedded/interventions.log",
        "residual_decomposition/plants/embedded/decomposition_figure.log",
        "residual_decomposition/plants/embedded/layer_profile_figure.log",
        "residual_decomposition/comparison.log",
    } <= logs
    assert "extracted 1/1 texts" in (workdir / "logs" / "activations" / MODEL / "plants.log").read_text()
    interventions = workdir / "logs" / "subspace_removal" / "ravel" / MODEL / "interventions.log"
    assert "intervened at 12/12 layers" in interventions.read_text()


def test_model_stages_declare_a_gpu_and_cpu_stages_do_not(workdir):
    blocks = job_blocks(snakemake(workdir, "-n", "--forceall").stdout)
    cpu_stages = {
        "residual_decomposition_statistics",
        "subspace_removal_inspection",
        "neuron_contrast_statistics",
        "repeated_token_mi_statistics",
        "sparse_autoencoder_scores",
        "sparse_autoencoder_saelens_export",
        "streaming_sae_saelens_export",
        VIEW,
        *RUN_PLOTS,
        *COMPARISONS,
    }
    assert MODEL_STAGES | cpu_stages <= set(blocks)
    for rule in MODEL_STAGES:
        assert "gpu=1" in blocks[rule] and "runtime=60" in blocks[rule], blocks[rule]
    for rule in cpu_stages:
        assert "gpu=" not in blocks[rule] and "mem_mb=4000" in blocks[rule], blocks[rule]


def test_complete_run_schedules_nothing(workdir):
    assert dry_run(workdir) == {}


def reversed_mappings(value):
    """``value`` with the keys of every mapping in reverse order, at every depth."""
    if isinstance(value, dict):
        return {key: reversed_mappings(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_mappings(item) for item in value]
    return value


def test_restating_defaults_in_any_key_order_reruns_nothing(workdir):
    """Two configs that mean the same give the same DAG: restating one default (the SAE's epochs, the
    t-SNE perplexity), or every option of every instance of every method with the keys of every
    mapping in reverse order, schedules nothing."""
    assert dry_run(workdir) == {}
    single = overlay(
        workdir,
        "restated_defaults",
        {
            "sparse_autoencoder": {"palinka": {"sae": {"epochs": 100}}},
            "neuron_contrast": {"him_her": {"tsne": {"perplexity": 30}}},
        },
    )
    assert dry_run(workdir, single) == {}
    resolved = yaml.safe_load((workdir / "results" / "resolved_config.yaml").read_text())
    restated = {method: reversed_mappings(resolved[method]) for method in METHODS if resolved.get(method)}
    in_overlay = set(yaml.safe_load((workdir / "overlays" / "embedded.yaml").read_text())) & set(METHODS)
    assert set(restated) == in_overlay and len(in_overlay) >= 6, "every method of the embedded overlay"
    path = workdir / "restated_everything.yaml"
    path.write_text(yaml.safe_dump(restated, sort_keys=False))
    assert dry_run(workdir, path.name) == {}


def test_plot_parameter_reruns_only_that_instance_plots(workdir):
    changed = overlay(workdir, "plot", {"residual_decomposition": {"plants": {"plot": {"marker_size": 7}}}})
    assert dry_run_instances(workdir, changed) == {("residual_decomposition_decomposition_figure", "plants")}


def test_statistics_parameter_reruns_that_instance_and_the_comparison_not_extraction(workdir):
    changed = overlay(workdir, "stats", {"residual_decomposition": {"plants": {"clip_threshold": 0.05}}})
    expected = {(rule, "plants") for rule in {"residual_decomposition_statistics", VIEW, *RD_PLOTS}}
    assert dry_run_instances(workdir, changed) == expected | {("residual_decomposition_comparison", "")}


def test_removed_components_rerun_that_instance_interventions_not_extraction(workdir):
    changed = overlay(workdir, "components", {"subspace_removal": {"ravel": {"n_components": 2}}})
    stages = {"subspace_removal_inspection", "subspace_removal_interventions", VIEW, *SR_PLOTS}
    assert dry_run_instances(workdir, changed) == {(rule, "ravel") for rule in stages} | {
        ("subspace_removal_comparison", "")
    }


def test_subspace_plot_parameter_reruns_only_its_plots(workdir):
    changed = overlay(workdir, "bins", {"subspace_removal": {"coffee": {"plot": {"bins": 40}}}})
    assert dry_run_instances(workdir, changed) == {
        (rule, "coffee") for rule in SR_PLOTS - {"subspace_removal_sweep_figure"}
    }


def test_neuron_contrast_parameters_rerun_what_depends_on_them(workdir):
    plot = overlay(workdir, "nc_plot", {"neuron_contrast": {"him_her": {"plot": {"example_neuron": 3}}}})
    assert dry_run_instances(workdir, plot) == {("neuron_contrast_figures", "him_her")}
    alpha = overlay(workdir, "nc_alpha", {"neuron_contrast": {"she_he": {"alpha": 0.01}}})
    stages = {"neuron_contrast_statistics", VIEW, *NC_PLOTS}
    assert dry_run_instances(workdir, alpha) == {(rule, "she_he") for rule in stages} | {
        ("neuron_contrast_comparison", "")
    }
    layers = overlay(workdir, "nc_layers", {"neuron_contrast": {"him_her": {"layers": [2, 5]}}})
    assert dry_run(workdir, layers) == {
        "neuron_contrast_statistics": 1,
        "neuron_contrast_figures": 2,
        "neuron_contrast_sweep_figure": 1,
        "neuron_contrast_comparison": 1,
        VIEW: 1,
    }


def test_repeated_token_mi_parameters_rerun_that_instance_statistics_and_figures(workdir):
    changed = overlay(workdir, "mi", {"repeated_token_mi": {"fruit": {"outlier_threshold": 3}}})
    assert dry_run(workdir, changed) == {
        "repeated_token_mi_statistics": 1,
        "repeated_token_mi_figures": 1,
        "repeated_token_mi_comparison": 1,
        VIEW: 2,
    }
    assert {instance for _, instance in dry_run_instances(workdir, changed)} == {"fruit", ""}


def test_sae_parameters_rerun_training_not_extraction(workdir):
    rank = overlay(workdir, "sae_rank", {"sparse_autoencoder": {"palinka": {"plot": {"activity_rank": 3}}}})
    assert dry_run_instances(workdir, rank) == {("sparse_autoencoder_figures", "palinka")}
    epochs = overlay(workdir, "sae_epochs", {"sparse_autoencoder": {"coffee": {"sae": {"epochs": 50}}}})
    stages = {"sparse_autoencoder_train", "sparse_autoencoder_scores", "sparse_autoencoder_figures", VIEW}
    stages.add("sparse_autoencoder_saelens_export")
    assert dry_run_instances(workdir, epochs) == {(rule, "coffee") for rule in stages} | {
        ("sparse_autoencoder_comparison", "")
    }
    words = overlay(
        workdir,
        "sae_words",
        {"sparse_autoencoder": {"palinka": {"category": {"name": "fruit", "words": ["fruit", "fruits"]}}}},
    )
    stages = {"sparse_autoencoder_scores", "sparse_autoencoder_figures", "sparse_autoencoder_saelens_export", VIEW}
    assert dry_run_instances(workdir, words) == {(rule, "palinka") for rule in stages}


def test_reference_engine_gives_the_same_tables(workdir):
    """The cached, batched sweep and the full-pass-per-layer loop agree on the embedded model: every
    activation and log-probability change to 1e-5, and each layer's t-statistic within what a 1e-5
    change of its log-probabilities can move it (:func:`t_statistic_tolerance`)."""
    ravel = results(workdir, "subspace_removal", "ravel")
    tables = ("hidden_state_impact", "logit_impact", "layer_sweep")
    fast = {name: pd.read_parquet(ravel / f"{name}.parquet") for name in tables}
    reference = overlay(workdir, "reference", {"subspace_removal": {"ravel": {"engine": "reference"}}})
    assert dry_run(workdir, reference) == {
        "subspace_removal_interventions": 1,
        "subspace_removal_intervention_figures": 1,
        "subspace_removal_sweep_figure": 1,
        "subspace_removal_comparison": 1,
        VIEW: 1,
    }
    try:
        snakemake(workdir, "subspace_removal__ravel", overlays=("overlays/embedded.yaml", reference))
        slow = {name: pd.read_parquet(ravel / f"{name}.parquet") for name in tables}
    finally:
        snakemake(workdir, "subspace_removal")  # back to the cached engine for the tests that follow
    for name in ("hidden_state_impact", "logit_impact"):
        pd.testing.assert_frame_equal(slow[name], fast[name], atol=1e-5, rtol=0, check_exact=False)
    sweep = slow["layer_sweep"].set_index("layer")
    tolerance = t_statistic_tolerance(slow["logit_impact"], sweep["t_statistic"], change=1e-5)
    deviation = (fast["layer_sweep"].set_index("layer")["t_statistic"] - sweep["t_statistic"]).abs()
    assert (deviation <= tolerance).all(), pd.DataFrame({"deviation": deviation, "tolerance": tolerance})
    for name in tables:  # restored
        pd.testing.assert_frame_equal(pd.read_parquet(ravel / f"{name}.parquet"), fast[name], check_exact=True)


def t_statistic_tolerance(logit_impact: pd.DataFrame, t_statistic: pd.Series, change: float) -> pd.Series:
    """How far a one-sample t-statistic moves when each of its n values moves by at most ``change``.

    t = sqrt(n) m / s; the mean m and the standard deviation s each move by at most ``change``, so
    |dt| <= sqrt(n) change / s * (1 + |t| / sqrt(n)), to first order (doubled for the second).
    """
    grouped = logit_impact.groupby("intervention_layer")["delta_logprob"]
    n, s = grouped.count(), grouped.std()
    return 2 * np.sqrt(n) * change / s * (1 + t_statistic.abs() / np.sqrt(n))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"residual_decomposition": {"plants": {"layer": N_LAYER}}},
            f"'residual_decomposition.plants.layer': layer {N_LAYER} is out of range for model 'embedded'",
        ),
        (
            {"subspace_removal": {"ravel": {"intervention_layer": 40}}},
            "'subspace_removal.ravel.intervention_layer': layer 40 is out of range",
        ),
        (
            {"subspace_removal": {"ravel": {"n_components": 500}}},
            "'subspace_removal.ravel.n_components': 500 must be below the number of tokens of 'ravel'",
        ),
        (
            {"subspace_removal": {"coffee": {"text": "pronoun_sentences"}}},
            "'subspace_removal.coffee.text': needs a text set of one text",
        ),
        (
            {"residual_decomposition": {"plants": {"layer": -1}}},
            "'residual_decomposition.plants.layer': -1 is not a layer: a layer is a block index from 0",
        ),
        ({"texts": {"plants": {"path": "empty.txt"}}}, "'texts.plants.path': "),
        ({"models": {"embedded": {"n_positions": 64}}}, "'subspace_removal.ravel.text': text set 'ravel'"),
        (
            {"corpora": {"demo_corpus": {"paths": ["corpus/*.jsonl"]}}},
            "'corpora.demo_corpus.paths': pattern 'corpus/*.jsonl' matches no file",
        ),
        (
            {"corpora": {"demo_corpus": {"paths": ["resources/texts/pronoun_sentences.tsv"]}}},
            "'corpora.demo_corpus.paths': ",
        ),
        (
            {"corpora": {"demo_corpus": {"paths": ["resources/texts/plants.txt"]}}},
            "'corpora.demo_corpus.n_shards': the corpus's 1 file(s) give 0 window(s) of 32 tokens, fewer than one per",
        ),
        (
            {"corpora": {"demo_corpus": {"text_field": "body"}}},
            "'corpora.demo_corpus.text_field': ",
        ),
        (
            {"streaming_sae": {"demo_topk": {"corpus": "web"}}},
            "'streaming_sae.demo_topk.corpus': unknown corpus 'web' (known: demo_corpus)",
        ),
        (
            {"streaming_sae": {"demo_topk": {"sae": {"heldout_shards": 4}}}},
            "'streaming_sae.demo_topk.sae.heldout_shards': 4 held-out shard(s) leave none",
        ),
        (
            {"streaming_sae": {"demo_topk": {"sae": {"token_budget": 100, "batch_tokens": 256}}}},
            "'streaming_sae.demo_topk.sae.token_budget': 100 tokens are less than one minibatch of 256",
        ),
        (
            {"corpora": {"demo_corpus": {"paths": ["bad_inputs/late.jsonl"]}}},
            "'corpora.demo_corpus.paths': '{workdir}/bad_inputs/late.jsonl': line 41 is not JSON",
        ),
        (
            {"corpora": {"demo_corpus": {"paths": ["bad_inputs/latin.txt"]}}},
            "'corpora.demo_corpus.paths': '{workdir}/bad_inputs/latin.txt' is not UTF-8: line 3, byte 8 of the line",
        ),
        (
            {"streaming_sae": {"demo_topk": {"sae": {"k": 513}}}},
            "'streaming_sae.demo_topk.sae.k': 513 active latents per token, more than the SAE's 512 latents",
        ),
        (
            {"sparse_autoencoder": {"palinka": {"category": {"words": ["tungsten"]}}}},
            "'sparse_autoencoder.palinka.category.words': none of ['tungsten'] occurs in text set 'palinka'",
        ),
        (
            {"models": {"mine": {"source": "local", "path": "bad_inputs/absent", "n_layer": 2}}},
            "'models.mine.path': 'bad_inputs/absent' does not exist",
        ),
        (
            {"models": {"mine": {"source": "local", "path": "bad_inputs/not_a_model", "n_layer": 2}}},
            "'models.mine.path': 'bad_inputs/not_a_model' is not a model folder: it has no config.json",
        ),
        (
            {"models": {"mine": {"source": "local", "path": "bad_inputs/six_blocks", "n_layer": 2}}},
            "'models.mine.n_layer': 2, but the model's config.json says 6 blocks; set n_layer: 6",
        ),
    ],
)
def test_invalid_config_stops_before_any_job(workdir, changes, message):
    (workdir / "empty.txt").write_text(" \n")
    inputs = workdir / "bad_inputs"
    (inputs / "not_a_model").mkdir(parents=True, exist_ok=True)
    (inputs / "six_blocks").mkdir(exist_ok=True)
    (inputs / "six_blocks" / "config.json").write_text('{"model_type": "gpt2", "n_layer": 6}')
    (inputs / "six_blocks" / "model.safetensors").touch()
    documents = [json.dumps({"text": f"Document {number} of the corpus, long enough."}) for number in range(1, 61)]
    documents[40] = '{"text": "cut off'
    (inputs / "late.jsonl").write_text("\n".join(documents) + "\n")
    (inputs / "latin.txt").write_bytes(b"A first line.\nA second.\nThe caf\xe9 opens.\n" + b"More text here. " * 400)
    before = {path: path.stat().st_mtime_ns for path in (workdir / "results").rglob("*")}
    bad = overlay(workdir, "bad", changes)
    result = snakemake(workdir, overlays=("overlays/embedded.yaml", bad), check=False)
    assert result.returncode != 0
    assert f"invalid configuration: config key {message.format(workdir=workdir)}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert {path: path.stat().st_mtime_ns for path in (workdir / "results").rglob("*")} == before


def test_a_key_given_twice_in_an_overlay_stops_before_any_job(workdir):
    before = {path: path.stat().st_mtime_ns for path in (workdir / "results").rglob("*")}
    (workdir / "twice.yaml").write_text("neuron_contrast:\n  she_he:\n    alpha: 0.01\n  she_he:\n    alpha: 0.2\n")
    result = snakemake(workdir, overlays=("overlays/embedded.yaml", "twice.yaml"), check=False)
    assert result.returncode != 0
    assert "invalid configuration: config key 'she_he': given twice in twice.yaml, at lines 2 and 4" in result.stderr
    assert "Traceback" not in result.stderr
    assert {path: path.stat().st_mtime_ns for path in (workdir / "results").rglob("*")} == before


def test_an_unavailable_hub_model_is_one_message_with_the_ways_out_before_any_job(workdir, tmp_path):
    offline = {"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    result = snakemake(workdir, "models/hub/gpt2", overlays=(), check=False, env=offline)
    assert result.returncode != 0
    assert "cannot start: model 'gpt2' (openai-community/gpt2) is not available" in result.stderr, result.stderr
    assert "HF_HUB_OFFLINE is set" in result.stderr and "Three ways out" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "logs" / "models" / "provision_gpt2.log").exists()  # no job ran

    # The job's own message, where the start-up check was skipped: one message, no traceback.
    result = snakemake(workdir, "models/hub/gpt2", "--no-hooks", overlays=(), check=False, env=offline)
    assert result.returncode != 0
    log = (workdir / "logs" / "models" / "provision_gpt2.log").read_text()
    assert "model 'gpt2' (openai-community/gpt2) is not available" in log and "Three ways out" in log
    assert "Traceback" not in log
    assert not (workdir / "models" / "hub" / "gpt2").exists()


def test_figures_target_redraws_every_figure_without_a_model(scratch):
    """After plot-only changes, ``snakemake figures`` runs figure jobs and nothing upstream of them; after
    an edit of the plot code every figure imports, it schedules every figure and still no model stage."""
    plots = overlay(
        scratch,
        "all_plots",
        {
            "residual_decomposition": {"plants": {"plot": {"marker_size": 7}}},
            "subspace_removal": {"ravel": {"plot": {"bins": 40}}},
            "neuron_contrast": {"him_her": {"plot": {"example_neuron": 3}}},
            "sparse_autoencoder": {"palinka": {"plot": {"activity_rank": 3}}},
        },
    )
    changed_figures = {
        "residual_decomposition_decomposition_figure",
        "subspace_removal_inspection_figures",
        "subspace_removal_intervention_figures",
        "neuron_contrast_figures",
        "sparse_autoencoder_figures",
    }
    run = snakemake(scratch, "figures", overlays=("overlays/embedded.yaml", plots))
    assert scheduled_jobs(run.stdout + run.stderr, targets=("figures",)) == dict.fromkeys(changed_figures, 1)
    edit(scratch / "src" / "interpflow" / "plotting" / "style.py")  # plot code every figure imports
    planned = scheduled_jobs(snakemake(scratch, "figures", "-n").stdout, targets=("figures",))
    per_run = every_run_stage(dict.fromkeys(RUN_PLOTS, 1)) | {"neuron_contrast_figures": 2}
    assert planned == per_run | dict.fromkeys(COMPARISONS, 1)
    assert not MODEL_STAGES & set(planned)


def edit(path):
    """Append a comment to ``path``; returns a function that puts back its bytes and its times."""
    text, stat = path.read_text(), path.stat()
    path.write_text(text + "\n# edited by the rerun test\n")

    def restore():
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    return restore


def every_run_stage(count_per_instance: dict[str, int]) -> dict[str, int]:
    """``rule -> jobs`` per instance, times the instances of the rule's method: two for a lecture method
    (a sweep's points aside), one for a method added after the lectures."""
    return {rule: count * (1 if rule.startswith(tuple(ADDED)) else 2) for rule, count in count_per_instance.items()}


def test_editing_a_package_module_reruns_the_stages_that_import_it(workdir, scratch):
    """Each edit schedules the stages whose scripts import the module (directly or not) and what follows
    them; put back, bytes and times, it schedules nothing more. The last edit is also run, in a copy of
    the run, for one corpus SAE: its fresh corpus extraction and training reproduce every output exactly
    (a fresh text extraction does too: test_interruption.py)."""
    restores = [edit(workdir / "src" / "interpflow" / "methods" / "residual_decomposition" / "analysis.py")]
    rd = {"residual_decomposition_statistics": 2, VIEW: 2, "residual_decomposition_comparison": 1}
    assert dry_run(workdir) == rd | every_run_stage(dict.fromkeys(RD_PLOTS, 1))
    # imported by the subspace_removal and sparse_autoencoder figures, not by their comparisons
    restores.append(edit(workdir / "src" / "interpflow" / "plotting" / "text_heatmap.py"))
    text_plots = RD_PLOTS | SR_PLOTS | {"sparse_autoencoder_figures"}
    assert dry_run(workdir) == rd | every_run_stage(dict.fromkeys(text_plots, 1))
    restores.append(edit(workdir / "src" / "interpflow" / "plotting" / "style.py"))  # every figure imports it
    assert dry_run(workdir) == rd | every_run_stage(dict.fromkeys(RUN_PLOTS, 1)) | dict.fromkeys(COMPARISONS, 1)
    restores.append(edit(workdir / "src" / "interpflow" / "models" / "hooks.py"))
    expected = {
        "extract_activations": 7,
        "activation_patching_patch": 1,
        "logit_lens_lens": 1,
        "direct_logit_attribution_attribute": 1,
        "attribution_patching_estimate": 1,
        "edge_attribution_patching_edges": 1,
        "neuron_contrast_statistics": 2,
        "repeated_token_mi_statistics": 2,
        "sparse_autoencoder_train": 2,
        "sparse_autoencoder_scores": 2,
        "sparse_autoencoder_saelens_export": 2,
        "residual_decomposition_statistics": 2,
        "subspace_removal_inspection": 2,
        "subspace_removal_interventions": 2,
        "extract_corpus_shard": 4,  # not tokenize_corpus: it runs no model
        "corpus_manifest": 1,
        "streaming_sae_train": 2 + len(SWEEP),
        "streaming_sae_evaluate": 2 + len(SWEEP),
        "streaming_sae_logit_tokens": 2,
        "streaming_sae_saelens_export": 2,
        "streaming_sae_neuronpedia_export": 2,
        VIEW: 18 + len(SWEEP),
        **every_run_stage(dict.fromkeys(RUN_PLOTS, 1)),
        **dict.fromkeys(COMPARISONS, 1),
    }
    assert dry_run(workdir) == expected
    for restore in restores:
        restore()
    shard_extraction = Path("src") / "interpflow" / "stores" / "shard_extraction.py"  # the corpus shards' extraction
    restore = edit(workdir / shard_extraction)
    assert dry_run(workdir) == {
        "extract_corpus_shard": 4,
        "corpus_manifest": 1,
        "streaming_sae_train": 2 + len(SWEEP),
        "streaming_sae_evaluate": 2 + len(SWEEP),
        "streaming_sae_logit_tokens": 2,
        "streaming_sae_saelens_export": 2,
        "streaming_sae_neuronpedia_export": 2,
        VIEW: 2 + len(SWEEP),
        **every_run_stage(dict.fromkeys(SS_PLOTS, 1)),
        "streaming_sae_comparison": 1,
    }
    restore()
    assert dry_run(workdir) == {}

    outputs = sorted(p for p in (scratch / "results").rglob("*") if p.suffix in (".parquet", ".safetensors"))
    before = {path: path.read_bytes() for path in outputs}
    edit(scratch / shard_extraction)
    target = "streaming_sae__demo_topk"
    planned = dry_run(scratch, args=(target,))
    assert planned["extract_corpus_shard"] == 4 and planned["streaming_sae_train"] == 1
    run = snakemake(scratch, target)
    assert scheduled_jobs(run.stdout + run.stderr) == planned
    assert dry_run(scratch, args=(target,)) == {}
    for path, content in before.items():
        same = path.read_bytes() == content  # a bool: no diff of megabytes on failure
        assert same, f"{path.relative_to(scratch)} changed on an identical rerun"


# --- overlays that do what they say: add, remove and replace, through --configfile and --config ----
EXTRA = {"models": ["embedded"], "text": "coffee", "layer": 2}
REVERSED_GROUPS = [{"group": "her", "target": " her"}, {"group": "him", "target": " him"}]


def resolved(workdir, *overlays, config=()) -> dict:
    """The config a run reads, as the workflow's own ``resolved_config`` rule writes it."""
    args = ["results/resolved_config.yaml", *(["--config", *config] if config else [])]
    snakemake(workdir, *args, overlays=("overlays/embedded.yaml", *overlays))
    return yaml.safe_load((workdir / "results" / "resolved_config.yaml").read_text())


@pytest.fixture
def scratch(workdir, tmp_path):
    """A copy of the finished run, for changes that must not touch the shared one."""
    return copy_run(workdir, tmp_path / "project")


@pytest.mark.parametrize("way", ["configfile", "config"])
def test_an_overlay_adds_an_instance(scratch, way):
    if way == "configfile":
        added = overlay(scratch, "add", {"residual_decomposition": {"extra": EXTRA}})
        config = resolved(scratch, added)
        target = ("residual_decomposition__extra", "--configfile", "overlays/embedded.yaml", added)
    else:
        setting = "residual_decomposition={extra: {models: [embedded], text: coffee, layer: 2}}"
        config = resolved(scratch, config=[setting])
        target = ("residual_decomposition__extra", "--config", setting, "--configfile", "overlays/embedded.yaml")
    assert list(config["residual_decomposition"]) == ["plants", "ravel", "extra"]
    assert config["residual_decomposition"]["extra"] == {**EXTRA, "all_layers": True, "clip_threshold": 30} | {
        "plot": {"marker_size": 4, "alpha": 0.6}
    }
    snakemake(scratch, *target, overlays=())
    values = pd.read_parquet(results(scratch, "residual_decomposition", "extra") / "comparison_values.parquet")
    assert (values["layer"] == 2).all()


@pytest.mark.parametrize("way", ["configfile", "config"])
def test_an_overlay_removes_an_instance(workdir, way):
    """she_he reads a text no other instance reads: removing it leaves every other result as it is."""
    if way == "configfile":
        removed = overlay(workdir, "remove", {"neuron_contrast": {"she_he": None}})
        config, overlays, args = resolved(workdir, removed), (removed,), ()
    else:
        setting = "neuron_contrast={she_he: null}"
        config, overlays, args = resolved(workdir, config=[setting]), (), ("--config", setting)
    assert list(config["neuron_contrast"]) == ["him_her"]
    # The comparison's set of inputs changed: it is redrawn without she_he; nothing else runs.
    assert dry_run_instances(workdir, *overlays, args=args) == {("neuron_contrast_comparison", "")}
    snakemake(workdir, "results/resolved_config.yaml")  # back to the shared run's config


@pytest.mark.parametrize("way", ["configfile", "config"])
def test_an_overlay_replaces_the_groups_of_an_instance(workdir, way):
    """The groups are a list, replaced whole: no merge with the lecture's pair."""
    if way == "configfile":
        replaced = overlay(workdir, "groups", {"neuron_contrast": {"him_her": {"groups": REVERSED_GROUPS}}})
        config, overlays, args = resolved(workdir, replaced), (replaced,), ()
    else:
        setting = 'neuron_contrast={him_her: {groups: [{group: her, target: " her"}, {group: him, target: " him"}]}}'
        config, overlays, args = resolved(workdir, config=[setting]), (), ("--config", setting)
    assert config["neuron_contrast"]["him_her"]["groups"] == REVERSED_GROUPS
    stages = {"neuron_contrast_statistics", VIEW, *NC_PLOTS}
    assert dry_run_instances(workdir, *overlays, args=args) == {(rule, "him_her") for rule in stages} | {
        ("neuron_contrast_comparison", "")
    }
    snakemake(workdir, "results/resolved_config.yaml")  # back to the shared run's config


def test_changing_a_revision_reprovisions_the_model(scratch, tiny_model_dir, tmp_path):
    """Provisioning takes the configured revision; another revision reprovisions, the same one nothing.
    The configured n_layer is checked before any job against the cached config.json of that revision."""
    from tests.unit.test_models import fake_hub_cache

    first, second = "a" * 40, "b" * 40
    for revision in (first, second):
        fake_hub_cache(tmp_path / "hf", "openai-community/gpt2", tiny_model_dir, revision=revision, ref=revision[:6])
    hub = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    blocks = json.loads((tiny_model_dir / "config.json").read_text())["n_layer"]
    folder = scratch / "models" / "hub" / "tiny"  # a model of no instance: the lecture's layers need 12 blocks

    def provision(revision, *args, n_layer=blocks, check=True):
        entry = f"{{source: hub, hub_id: openai-community/gpt2, revision: '{revision}', n_layer: {n_layer}}}"
        return snakemake(
            scratch,
            "models/hub/tiny",
            *args,
            "--config",
            f"models={{tiny: {entry}}}",
            overlays=(),
            env=hub,
            check=check,
        )

    refused = provision(first, n_layer=blocks + 1, check=False)
    assert refused.returncode != 0 and not folder.exists()
    assert f"'models.tiny.n_layer': {blocks + 1}, but the model's config.json says {blocks} blocks" in refused.stderr
    provision(first)
    record = json.loads((folder / "interpflow_model.json").read_text())
    assert (record["revision"], record["commit"]) == (first, first)
    assert scheduled_jobs(provision(first, "-n").stdout) == {}
    assert scheduled_jobs(provision(second, "-n").stdout) == {"provision_hub_model": 1}
    provision("bbbbbb")  # a tag: resolved through the cache's refs
    record = json.loads((folder / "interpflow_model.json").read_text())
    assert (record["revision"], record["commit"]) == ("bbbbbb", second)


def test_every_result_records_its_provenance_and_a_clean_run_verifies(workdir):
    from interpflow.runtime.model_records import read_model_record
    from interpflow.runtime.provenance import PACKAGES, read, verify

    weights = read_model_record(workdir / "models" / "embedded" / "embedded")["weights_sha256"]
    files = sorted(p for p in (workdir / "results").rglob("*") if p.suffix in (".parquet", ".safetensors"))
    assert len(files) > 50
    for path in files:
        record = read(path)
        assert record is not None, path
        assert set(record["packages"]) == set(PACKAGES) and record["interpflow"]["version"]
        assert record["stage"]["rule"] and all(len(digest) == 64 for digest in record["inputs"].values())
        if path.parent.name == MODEL or path.parent.parent.name == MODEL:  # a run's result, or a store
            assert record["model"]["weights_sha256"] == weights, path
    sweep = read(results(workdir, "subspace_removal", "ravel") / "layer_sweep.parquet")
    assert sweep["stage"]["params"]["n_components"] == 1 and sweep["stage"]["wildcards"]["instance"] == "ravel"
    store = "results/activations/embedded/ravel.safetensors"
    assert store in sweep["inputs"] and sweep["model"]["source"] == "embedded"
    page = (results(workdir, "subspace_removal", "ravel") / "tables" / "layer_sweep.html").read_text()
    assert f"weights sha256 {weights}" in page and "interpflow 0.1.0" in page and "numpy " in page
    assert verify(workdir / "results", workdir) == []


def test_verify_reports_a_changed_package_version_and_a_changed_weight_byte(scratch):
    import pyarrow.parquet as pq

    table_path = results(scratch, "residual_decomposition", "plants") / "correlations.parquet"
    table = pq.read_table(table_path)
    record = json.loads(table.schema.metadata[b"interpflow.provenance"])
    record["packages"]["scipy"] = "0.1.0"  # as if made with another scipy
    metadata = {**table.schema.metadata, b"interpflow.provenance": json.dumps(record).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), table_path)
    weights = scratch / "models" / "embedded" / "embedded" / "model.safetensors"
    content = bytearray(weights.read_bytes())
    content[len(content) // 2] ^= 1
    weights.write_bytes(bytes(content))
    result = subprocess.run(
        [sys.executable, "-m", "interpflow.runtime.provenance", "verify", "results"],
        cwd=scratch,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(scratch / "src")},
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line for line in lines if "scipy 0.1.0 recorded" in line] == [
        f"results/residual_decomposition/plants/embedded/correlations.parquet: scipy 0.1.0 recorded, "
        f"{metadata_version('scipy')} installed"
    ]
    assert sum("model 'embedded' weights" in line for line in lines) > 50  # every result of the model

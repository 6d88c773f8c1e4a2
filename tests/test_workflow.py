"""End to end: the real snakemake on the embedded model, then what reruns after each kind of change."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from safetensors.numpy import load_file

from tests.workflow_helpers import MODEL_STAGES, job_blocks, scheduled_jobs, snakemake

pytestmark = pytest.mark.e2e

MODEL = "embedded"
N_LAYER = 12
PLOTS = {"hooks_vs_hidden_decomposition_figure", "hooks_vs_hidden_layer_profile_figure"}
SR_PLOTS = {
    "subspace_removal_inspection_figures",
    "subspace_removal_intervention_figures",
    "subspace_removal_sweep_figure",
}
NC_PLOTS = {"neuron_clusters_figures", "neuron_clusters_sweep_figure"}
ALL_PLOTS = PLOTS | SR_PLOTS | NC_PLOTS | {"coffee_mi_figures", "palinka_sae_figures"}
VIEW = "table_view"  # the report's HTML view of a key table, one job per table


@pytest.fixture(scope="module")
def workdir(local_run):
    return local_run.workdir


def overlay(workdir, name, changes) -> str:
    """Write an overlay on top of the embedded one; returns its path relative to ``workdir``."""
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(changes))
    return path.name


def dry_run(workdir, *overlays):
    return scheduled_jobs(snakemake(workdir, "-n", overlays=("overlays/embedded.yaml", *overlays)).stdout)


def test_every_declared_output_exists(workdir):
    results = workdir / "results" / "hooks_vs_hidden" / MODEL
    table = pd.read_parquet(results / "correlations.parquet")
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
    values = pd.read_parquet(results / "comparison_values.parquet")
    assert list(values.columns) == ["layer", "comparison", "x", "y"] and (values["layer"] == 10).all()
    for figure in ("decomposition", "layer_profile"):
        assert (results / "figures" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (results / "figures" / f"{figure}.svg").read_bytes()[:2000]
    tokens = pd.read_parquet(workdir / "results" / "activations" / MODEL / "plants.tokens.parquet")
    assert list(tokens.columns) == ["text_id", "position", "token_id", "token"]
    assert "".join(tokens["token"]) == (workdir / "resources" / "texts" / "plants.txt").read_text().strip()


def test_subspace_removal_outputs(workdir):
    results = workdir / "results" / "subspace_removal" / MODEL
    n_tokens = len(pd.read_parquet(workdir / "results" / "activations" / MODEL / "ravel.tokens.parquet"))
    hidden = pd.read_parquet(results / "hidden_state_impact.parquet")
    assert list(hidden.columns) == ["intervention_layer", "hidden_state", "diff_norm"]
    assert len(hidden) == N_LAYER * (N_LAYER + 1)
    at_middle = hidden[hidden.intervention_layer == N_LAYER // 2].set_index("hidden_state")["diff_norm"]
    assert (at_middle.loc[: N_LAYER // 2] == 0).all() and (at_middle.loc[N_LAYER // 2 + 1 :] > 0).all()
    logit = pd.read_parquet(results / "logit_impact.parquet")
    assert list(logit.columns) == ["intervention_layer", "position", "token_id", "token", "delta_logprob"]
    assert len(logit) == N_LAYER * (n_tokens - 1) and logit["position"].min() == 1
    sweep = pd.read_parquet(results / "layer_sweep.parquet")
    assert list(sweep.columns) == ["layer", "t_statistic", "p_value", "top_pc_variance_pct"]
    assert sweep["layer"].tolist() == list(range(N_LAYER))
    assert sweep["p_value"].between(0, 1).all() and sweep["top_pc_variance_pct"].between(0, 100).all()
    spectrum = pd.read_parquet(results / "inspection_spectrum.parquet")
    assert (spectrum["layer"] == 9).all() and len(spectrum) == n_tokens
    assert (spectrum["variance_pct_original"].diff().dropna() <= 1e-9).all()
    for figure in (
        "activation_histogram",
        "inspection",
        "hidden_state_impact",
        "cosine_similarity",
        "logit_impact_stem",
        "logit_impact_text",
        "layer_sweep",
    ):
        assert (results / "figures" / f"{figure}.png").stat().st_size > 1000
        assert (results / "figures" / f"{figure}.svg").stat().st_size > 1000


def test_neuron_clusters_outputs(workdir):
    results = workdir / "results" / "neuron_clusters" / MODEL
    tests = pd.read_parquet(results / "neuron_tests.parquet")
    assert list(tests.columns) == ["layer", "neuron", "t_statistic", "p_value", "significant"]
    assert sorted(tests["layer"].unique()) == list(range(N_LAYER))  # sweep: every layer
    assert len(tests) == N_LAYER * 4 * 128
    clusters = pd.read_parquet(results / "neuron_clusters.parquet")
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
    summary = pd.read_parquet(results / "cluster_summary.parquet")
    assert list(summary.columns) == ["layer", "method", "cluster", "n_units", "mean_t", "mean_abs_t"]
    assert set(summary["method"]) == {"dbscan", "kmeans"}
    kmeans_units = summary[summary.method == "kmeans"].groupby("layer")["n_units"].sum()
    assert (kmeans_units == clusters.groupby("layer").size()).all()
    for figure in ("activations", "example_neuron", "t_values", "tsne", "dbscan", "dbscan_similarity", "kmeans"):
        assert (results / "figures" / "layer5" / f"{figure}.png").stat().st_size > 1000
    assert (results / "figures" / "layer_sweep.svg").stat().st_size > 1000


def test_coffee_mi_outputs(workdir):
    results = workdir / "results" / "coffee_mi" / MODEL
    pairs = pd.read_parquet(results / "pairwise_mi.parquet")
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
    summary = pd.read_parquet(results / "layer_summary.parquet")
    assert list(summary.columns) == ["layer", "sublayer", "estimator", "mean_mi", "kendall_tau", "kendall_p"]
    assert len(summary) == N_LAYER * 4
    tests = pd.read_parquet(results / "sublayer_tests.parquet")
    assert list(tests.columns) == ["layer", "estimator", "test", "statistic", "p_value", "p_fdr", "significant"]
    assert set(tests["test"]) == {"t", "z"} and (tests["p_fdr"] >= tests["p_value"] - 1e-12).all()
    for figure in ("one_layer", "example_pair", "layers_histogram", "layers_knn", "estimators"):
        assert (results / "figures" / f"{figure}.png").stat().st_size > 1000


def test_palinka_sae_outputs(workdir):
    results = workdir / "results" / "palinka_sae" / MODEL
    run = json.loads((results / "sae_config.json").read_text())
    width = 4 * 128  # c_fc of the embedded model
    assert run["site"] == f"h.{N_LAYER // 2}.mlp.c_fc" and run["sae"]["latent_dim"] == 2 * width
    assert run["sae"]["k"] == width // 3 and 0 < run["fvu"] < 1
    log = pd.read_parquet(results / "training_log.parquet")
    assert list(log.columns) == ["epoch", "total_loss", "mse_loss", "l1_loss", "decorrelation_loss"]
    assert len(log) == 100 and log["total_loss"].iloc[-1] < log["total_loss"].iloc[0]
    latents = load_file(results / "latents.safetensors")["latents"]
    active = (latents != 0).sum(axis=1)  # k kept, fewer where fewer than k pre-activations are positive
    assert active.max() == width // 3 and (active <= width // 3).all()
    assert load_file(results / "sae.safetensors")["encoder.weight"].shape == (2 * width, width)
    scores = pd.read_parquet(results / "latents.parquet")
    assert list(scores.columns) == ["latent", "density_pct", "mean_nonzero", "geo_score"]
    assert len(scores) == 2 * width and (scores["geo_score"] > 0).any()
    for name in ("heatmap_activity", "heatmap_density", "heatmap_score"):
        page = (results / "figures" / f"{name}.html").read_text()
        assert page.count('class="token"') == latents.shape[0] and "title=" in page
        assert (results / "figures" / f"{name}.png").stat().st_size > 1000
    for figure in ("loss_curves", "latent_activations", "latent_statistics"):
        assert (results / "figures" / f"{figure}.svg").stat().st_size > 1000


def test_neuron_clusters_statistics_are_deterministic(workdir):
    results = workdir / "results" / "neuron_clusters" / MODEL
    tables = ["neuron_tests.parquet", "neuron_clusters.parquet", "cluster_summary.parquet"]
    before = {name: (results / name).read_bytes() for name in tables}
    snakemake(workdir, "--forcerun", "neuron_clusters_statistics", "--until", "neuron_clusters_statistics")
    for name in tables:
        assert (results / name).read_bytes() == before[name], f"{name} differs on a second run"


def test_every_stage_writes_a_log(workdir):
    logs = {path.relative_to(workdir / "logs").as_posix() for path in (workdir / "logs").rglob("*.log")}
    assert {
        "models/build_embedded.log",
        "activations/embedded/plants.log",
        "hooks_vs_hidden/embedded/statistics.log",
        "coffee_mi/embedded/statistics.log",
        "neuron_clusters/embedded/statistics.log",
        "subspace_removal/embedded/interventions.log",
        "hooks_vs_hidden/embedded/decomposition_figure.log",
        "hooks_vs_hidden/embedded/layer_profile_figure.log",
    } <= logs
    assert "extracted 1/1 texts" in (workdir / "logs" / "activations" / MODEL / "plants.log").read_text()
    assert (
        "intervened at 12/12 layers"
        in (workdir / "logs" / "subspace_removal" / MODEL / "interventions.log").read_text()
    )


def test_model_stages_declare_a_gpu_and_cpu_stages_do_not(workdir):
    blocks = job_blocks(snakemake(workdir, "-n", "--forceall").stdout)
    cpu_stages = {
        "hooks_vs_hidden_statistics",
        "subspace_removal_inspection",
        "neuron_clusters_statistics",
        "coffee_mi_statistics",
        "palinka_sae_scores",
        VIEW,
        *ALL_PLOTS,
    }
    assert MODEL_STAGES | cpu_stages <= set(blocks)
    for rule in MODEL_STAGES:
        assert "gpu=1" in blocks[rule] and "runtime=60" in blocks[rule], blocks[rule]
    for rule in cpu_stages:
        assert "gpu=" not in blocks[rule] and "mem_mb=4000" in blocks[rule], blocks[rule]


def test_complete_run_schedules_nothing(workdir):
    assert dry_run(workdir) == {}


def test_plot_parameter_reruns_only_plots(workdir):
    changed = overlay(workdir, "plot", {"hooks_vs_hidden": {"plot": {"marker_size": 7, "alpha": 0.6}}})
    assert dry_run(workdir, changed) == {"hooks_vs_hidden_decomposition_figure": 1}


def test_statistics_parameter_reruns_statistics_and_plots_not_extraction(workdir):
    changed = overlay(workdir, "stats", {"hooks_vs_hidden": {"clip_threshold": 0.05}})
    assert dry_run(workdir, changed) == {"hooks_vs_hidden_statistics": 1, VIEW: 1, **dict.fromkeys(PLOTS, 1)}


def test_removed_components_rerun_interventions_and_plots_not_extraction(workdir):
    changed = overlay(workdir, "components", {"subspace_removal": {"n_components": 2}})
    expected = {
        "subspace_removal_inspection": 1,
        "subspace_removal_interventions": 1,
        VIEW: 1,
        **dict.fromkeys(SR_PLOTS, 1),
    }
    assert dry_run(workdir, changed) == expected


def test_subspace_plot_parameter_reruns_only_its_plots(workdir):
    changed = overlay(workdir, "bins", {"subspace_removal": {"plot": {"bins": 40}}})
    assert dry_run(workdir, changed) == dict.fromkeys(SR_PLOTS - {"subspace_removal_sweep_figure"}, 1)


def test_neuron_cluster_parameters_rerun_what_depends_on_them(workdir):
    plot = overlay(workdir, "nc_plot", {"neuron_clusters": {"plot": {"example_neuron": 3, "seed": 0, "bins": 80}}})
    assert dry_run(workdir, plot) == {"neuron_clusters_figures": 1}
    alpha = overlay(workdir, "nc_alpha", {"neuron_clusters": {"alpha": 0.01}})
    assert dry_run(workdir, alpha) == {"neuron_clusters_statistics": 1, VIEW: 1, **dict.fromkeys(NC_PLOTS, 1)}
    layers = overlay(workdir, "nc_layers", {"neuron_clusters": {"layers": [2, 5]}})
    assert dry_run(workdir, layers) == {
        "neuron_clusters_statistics": 1,
        "neuron_clusters_figures": 2,
        "neuron_clusters_sweep_figure": 1,
        VIEW: 1,
    }


def test_coffee_mi_parameters_rerun_statistics_and_figures_only(workdir):
    changed = overlay(workdir, "mi", {"coffee_mi": {"outlier_threshold": 3}})
    assert dry_run(workdir, changed) == {"coffee_mi_statistics": 1, "coffee_mi_figures": 1, VIEW: 2}


def test_sae_parameters_rerun_training_not_extraction(workdir):
    rank = overlay(
        workdir, "sae_rank", {"palinka_sae": {"plot": {"activity_rank": 3, "density_rank": 14, "score_rank": 9}}}
    )
    assert dry_run(workdir, rank) == {"palinka_sae_figures": 1}
    epochs = overlay(workdir, "sae_epochs", {"palinka_sae": {"sae": {"epochs": 50}}})
    expected = {"palinka_sae_train": 1, "palinka_sae_scores": 1, "palinka_sae_figures": 1, VIEW: 1}
    assert dry_run(workdir, epochs) == expected
    words = overlay(
        workdir, "sae_words", {"palinka_sae": {"category": {"name": "fruit", "words": ["fruit", "fruits"]}}}
    )
    assert dry_run(workdir, words) == {"palinka_sae_scores": 1, "palinka_sae_figures": 1, VIEW: 1}


def test_reference_engine_gives_the_same_tables(workdir):
    """The cached, batched sweep and the full-pass-per-layer loop agree on the embedded model (1e-5)."""
    results = workdir / "results" / "subspace_removal" / MODEL
    tables = ("hidden_state_impact", "logit_impact", "layer_sweep")
    fast = {name: pd.read_parquet(results / f"{name}.parquet") for name in tables}
    reference = overlay(workdir, "reference", {"subspace_removal": {"engine": "reference"}})
    assert dry_run(workdir, reference) == {
        "subspace_removal_interventions": 1,
        "subspace_removal_intervention_figures": 1,
        "subspace_removal_sweep_figure": 1,
        VIEW: 1,
    }
    snakemake(workdir, "subspace_removal", overlays=("overlays/embedded.yaml", reference))
    for name in tables:
        pd.testing.assert_frame_equal(
            pd.read_parquet(results / f"{name}.parquet"), fast[name], atol=1e-5, rtol=1e-5, check_exact=False
        )
    snakemake(workdir, "subspace_removal")  # back to the cached engine for the tests that follow
    for name in tables:
        pd.testing.assert_frame_equal(pd.read_parquet(results / f"{name}.parquet"), fast[name], check_exact=True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"hooks_vs_hidden": {"layer": N_LAYER}},
            f"'hooks_vs_hidden.layer': layer {N_LAYER} is out of range for model 'embedded'",
        ),
        (
            {"subspace_removal": {"intervention_layer": 40}},
            "'subspace_removal.intervention_layer': layer 40 is out of range",
        ),
        (
            {"subspace_removal": {"n_components": 500}},
            "'subspace_removal.n_components': 500 must be below the number of tokens of 'ravel'",
        ),
        ({"subspace_removal": {"text": "pronoun_sentences"}}, "'subspace_removal.text': needs a text set of one text"),
    ],
)
def test_invalid_config_stops_before_any_job(workdir, changes, message):
    before = {path: path.stat().st_mtime_ns for path in (workdir / "results").rglob("*")}
    bad = overlay(workdir, "bad", changes)
    result = snakemake(workdir, overlays=("overlays/embedded.yaml", bad), check=False)
    assert result.returncode != 0
    assert f"invalid configuration: config key {message}" in result.stderr
    assert {path: path.stat().st_mtime_ns for path in (workdir / "results").rglob("*")} == before


def test_unavailable_hub_model_fails_with_the_ways_out(workdir, tmp_path):
    result = snakemake(
        workdir, "models/hub/gpt2", overlays=(), check=False, env={"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    )
    assert result.returncode != 0
    log = (workdir / "logs" / "models" / "provision_gpt2.log").read_text()
    assert "model 'gpt2' (openai-community/gpt2) is not available" in log and "Three ways out" in log
    assert not (workdir / "models" / "hub" / "gpt2").exists()


def test_figures_target_redraws_every_figure_without_a_model(workdir):
    """After plot-only changes, ``snakemake figures`` runs figure jobs and nothing upstream of them."""
    plots = overlay(
        workdir,
        "all_plots",
        {
            "hooks_vs_hidden": {"plot": {"marker_size": 7, "alpha": 0.6}},
            "subspace_removal": {"plot": {"bins": 40}},
            "neuron_clusters": {"plot": {"example_neuron": 3, "seed": 0, "bins": 80}},
            "palinka_sae": {"plot": {"activity_rank": 3, "density_rank": 14, "score_rank": 9}},
        },
    )
    changed_figures = {
        "hooks_vs_hidden_decomposition_figure",
        "subspace_removal_inspection_figures",
        "subspace_removal_intervention_figures",
        "neuron_clusters_figures",
        "palinka_sae_figures",
    }
    assert scheduled_jobs(
        snakemake(workdir, "figures", "-n", overlays=("overlays/embedded.yaml", plots)).stdout, targets=("figures",)
    ) == dict.fromkeys(changed_figures, 1)
    edit(workdir / "src" / "interpflow" / "plotting" / "style.py")  # plot code every figure imports
    run = snakemake(workdir, "figures")
    assert scheduled_jobs(run.stdout + run.stderr, targets=("figures",)) == dict.fromkeys(ALL_PLOTS, 1)
    assert not MODEL_STAGES & set(scheduled_jobs(run.stdout + run.stderr, targets=("figures",)))
    assert dry_run(workdir) == {}


def edit(path):
    path.write_text(path.read_text() + "\n# edited by the rerun test\n")


def test_editing_a_package_module_reruns_the_stages_that_import_it(workdir):
    """Also shows determinism: the rerun from a fresh extraction reproduces every output exactly."""
    outputs = sorted(p for p in (workdir / "results").rglob("*") if p.suffix in (".parquet", ".safetensors"))
    before = {path: path.read_bytes() for path in outputs}
    edit(workdir / "src" / "interpflow" / "analyses" / "hooks_vs_hidden.py")
    assert dry_run(workdir) == {"hooks_vs_hidden_statistics": 1, VIEW: 1, **dict.fromkeys(PLOTS, 1)}
    edit(workdir / "src" / "interpflow" / "plotting" / "text_heatmap.py")  # imported by the subspace_removal plots
    text_plots = PLOTS | SR_PLOTS | {"palinka_sae_figures"}
    assert dry_run(workdir) == {"hooks_vs_hidden_statistics": 1, VIEW: 1, **dict.fromkeys(text_plots, 1)}
    edit(workdir / "src" / "interpflow" / "plotting" / "style.py")  # every figure imports the style
    assert dry_run(workdir) == {"hooks_vs_hidden_statistics": 1, VIEW: 1, **dict.fromkeys(ALL_PLOTS, 1)}
    edit(workdir / "src" / "interpflow" / "hooks.py")
    expected = {
        "extract_activations": 5,
        "neuron_clusters_statistics": 1,
        "coffee_mi_statistics": 1,
        "palinka_sae_train": 1,
        "palinka_sae_scores": 1,
        "hooks_vs_hidden_statistics": 1,
        "subspace_removal_inspection": 1,
        "subspace_removal_interventions": 1,
        VIEW: 6,
        **dict.fromkeys(ALL_PLOTS, 1),
    }
    assert dry_run(workdir) == expected
    run = snakemake(workdir)
    ran = scheduled_jobs(run.stdout + run.stderr)
    assert ran == expected
    assert dry_run(workdir) == {}
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path.name} changed on an identical rerun"

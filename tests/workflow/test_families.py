"""Every method on every supported family: one workflow run of ``overlays/families.yaml`` (tiny random
Pythia, Llama and Gemma 2 models beside the embedded GPT-2), shared by the tests of this module.

The run starts from a copy of the shared GPT-2 run, so only the other families' jobs (and the
comparisons, which read every model) run here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.workflow_helpers import scheduled_jobs, snakemake

OVERLAYS = ("overlays/embedded.yaml", "overlays/families.yaml")
FAMILY_MODELS = {"embedded_gpt_neox": "gpt_neox", "embedded_llama": "llama", "embedded_gemma2": "gemma2"}
METHOD_TABLES = {  # lecture method -> (its instance in the families overlay, the tables each run writes)
    "subspace_removal": ("ravel", ["layer_sweep", "logit_impact", "hidden_state_impact", "inspection_spectrum"]),
    "neuron_contrast": ("him_her", ["neuron_tests", "neuron_clusters", "cluster_summary"]),
    "repeated_token_mi": ("coffee", ["pairwise_mi", "layer_summary", "sublayer_tests"]),
    "sparse_autoencoder": ("palinka", ["training_log", "latents"]),
    "residual_decomposition": ("plants", ["correlations", "comparison_values"]),
}
# The methods added after the lectures run on every family in `make demo-families` too; here they stay
# on the embedded model, to keep the suite's time: their engines are compared with full hooked passes
# in every family by their unit tests (tests/unit/test_activation_patching.py, test_logit_lens.py,
# test_direct_logit_attribution.py).
ADDED = {
    "activation_patching": "ioi",
    "logit_lens": "ravel",
    "direct_logit_attribution": "ioi",
    "attribution_patching": "ioi",
    "edge_attribution_patching": "ioi",
}
EMBEDDED_ONLY = "added_methods_on_embedded.yaml"
N_LAYER = 12


@pytest.fixture(scope="module")
def families_run(local_run, tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("families") / "project"
    shutil.copytree(local_run.workdir, workdir, symlinks=True)
    added = {method: {instance: {"models": ["embedded"]}} for method, instance in ADDED.items()}
    (workdir / EMBEDDED_ONLY).write_text(yaml.safe_dump(added))
    snakemake(workdir, overlays=(*OVERLAYS, EMBEDDED_ONLY))
    return workdir


def test_the_run_is_complete_and_the_models_are_of_their_families(families_run):
    assert scheduled_jobs(snakemake(families_run, "-n", overlays=(*OVERLAYS, EMBEDDED_ONLY)).stdout) == {}
    for model, family in FAMILY_MODELS.items():
        config = yaml.safe_load((families_run / "models" / "embedded" / model / "config.json").read_text())
        assert config["model_type"] == family


def test_demo_families_runs_the_added_methods_on_every_family(families_run):
    jobs = scheduled_jobs(snakemake(families_run, "-n", overlays=OVERLAYS).stdout)
    assert jobs["activation_patching_patch"] == jobs["logit_lens_lens"] == len(FAMILY_MODELS)
    assert jobs["direct_logit_attribution_attribute"] == jobs["attribution_patching_estimate"] == len(FAMILY_MODELS)
    assert jobs["edge_attribution_patching_edges"] == len(FAMILY_MODELS)
    assert jobs["extract_activations"] == len(FAMILY_MODELS)  # the prompt pairs' store of each family model


@pytest.mark.parametrize("method", sorted(METHOD_TABLES))
def test_every_method_writes_its_tables_for_every_family(families_run, method):
    instance, tables = METHOD_TABLES[method]
    for model in FAMILY_MODELS:
        folder = families_run / "results" / method / instance / model
        for table in tables:
            frame = pd.read_parquet(folder / f"{table}.parquet")
            assert len(frame) > 0, f"{method}/{instance}/{model}/{table} is empty"
        assert (folder / "figures").is_dir() and any((folder / "figures").rglob("*.png"))
    comparison = pd.read_parquet(families_run / "results" / method / "comparison.parquet")
    assert set(FAMILY_MODELS) | {"embedded"} <= set(comparison["model"])


@pytest.mark.parametrize("model", sorted(FAMILY_MODELS))
def test_the_residual_identity_holds_in_every_family_but_after_the_last_block(families_run, model):
    table = pd.read_parquet(
        families_run / "results" / "residual_decomposition" / "plants" / model / "correlations.parquet"
    )
    identity = table[table["comparison"] == "reconstruction_vs_next_hs"].set_index("layer")
    inner = identity.loc[: N_LAYER - 2]
    assert len(inner) == N_LAYER - 1
    assert (inner["pearson_r"] >= 0.99999).all(), inner
    assert (inner["max_abs_reconstruction_error"] < 1e-3).all(), inner
    assert identity.loc[N_LAYER - 1, "max_abs_reconstruction_error"] > 100 * inner["max_abs_reconstruction_error"].max()


def test_the_cached_engine_gives_the_reference_tables_in_every_family(families_run):
    """An instance identical to the lecture's but for ``engine: reference``, on the three families."""
    config = yaml.safe_load((families_run / "overlays" / "families.yaml").read_text())
    reference = {"models": list(FAMILY_MODELS), "text": "ravel", "engine": "reference"}
    (families_run / "reference.yaml").write_text(yaml.safe_dump({"subspace_removal": {"ravel_reference": reference}}))
    assert config["subspace_removal"]["ravel"]["models"][1:] == list(FAMILY_MODELS)
    results = families_run / "results" / "subspace_removal"
    tables = [f"results/subspace_removal/ravel_reference/{model}/logit_impact.parquet" for model in FAMILY_MODELS]
    snakemake(families_run, *tables, overlays=(*OVERLAYS, "reference.yaml"))  # the interventions stages only
    for model in FAMILY_MODELS:
        for table in ("hidden_state_impact", "logit_impact"):
            cached = pd.read_parquet(results / "ravel" / model / f"{table}.parquet")
            slow = pd.read_parquet(results / "ravel_reference" / model / f"{table}.parquet")
            pd.testing.assert_frame_equal(cached, slow, atol=1e-5, rtol=0, check_exact=False, obj=f"{model} {table}")
        delta = pd.read_parquet(results / "ravel" / model / "logit_impact.parquet")["delta_logprob"]
        assert np.abs(delta).max() > 1e-4, f"{model}: the intervention changes nothing, the comparison would be empty"

"""End to end: the real snakemake on the embedded model, then what reruns after each kind of change."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from tests.workflow_helpers import copy_project, job_blocks, scheduled_jobs, snakemake

pytestmark = pytest.mark.e2e

MODEL = "embedded"
N_LAYER = 12
PLOTS = {"hooks_vs_hidden_decomposition_figure", "hooks_vs_hidden_layer_profile_figure"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = copy_project(tmp_path_factory.mktemp("project"))
    snakemake(workdir)
    return workdir


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


def test_every_stage_writes_a_log(workdir):
    logs = {path.relative_to(workdir / "logs").as_posix() for path in (workdir / "logs").rglob("*.log")}
    assert {
        "models/build_embedded.log",
        "activations/embedded/plants.log",
        "hooks_vs_hidden/embedded/statistics.log",
        "hooks_vs_hidden/embedded/decomposition_figure.log",
        "hooks_vs_hidden/embedded/layer_profile_figure.log",
    } <= logs
    assert "extracted 1/1 texts" in (workdir / "logs" / "activations" / MODEL / "plants.log").read_text()


def test_model_stages_declare_a_gpu_and_cpu_stages_do_not(workdir):
    blocks = job_blocks(snakemake(workdir, "-n", "--forceall").stdout)
    assert {"extract_activations", "hooks_vs_hidden_statistics", *PLOTS} <= set(blocks)
    assert "gpu=1" in blocks["extract_activations"] and "runtime=60" in blocks["extract_activations"]
    for rule in ["hooks_vs_hidden_statistics", *PLOTS]:
        assert "gpu=" not in blocks[rule] and "mem_mb=4000" in blocks[rule]


def test_complete_run_schedules_nothing(workdir):
    assert dry_run(workdir) == {}


def test_plot_parameter_reruns_only_plots(workdir):
    changed = overlay(workdir, "plot", {"hooks_vs_hidden": {"plot": {"marker_size": 7, "alpha": 0.6}}})
    assert dry_run(workdir, changed) == {"hooks_vs_hidden_decomposition_figure": 1}


def test_statistics_parameter_reruns_statistics_and_plots_not_extraction(workdir):
    changed = overlay(workdir, "stats", {"hooks_vs_hidden": {"clip_threshold": 0.05}})
    assert dry_run(workdir, changed) == {"hooks_vs_hidden_statistics": 1, **dict.fromkeys(PLOTS, 1)}


def test_invalid_config_stops_before_any_job(workdir):
    before = {path: path.stat().st_mtime_ns for path in (workdir / "results").rglob("*")}
    bad = overlay(workdir, "bad", {"hooks_vs_hidden": {"layer": N_LAYER}})
    result = snakemake(workdir, overlays=("overlays/embedded.yaml", bad), check=False)
    assert result.returncode != 0
    assert f"config key 'hooks_vs_hidden.layer': layer {N_LAYER} is out of range for model 'embedded'" in result.stderr
    assert {path: path.stat().st_mtime_ns for path in (workdir / "results").rglob("*")} == before


def test_unavailable_hub_model_fails_with_the_ways_out(workdir, tmp_path):
    result = snakemake(
        workdir, "models/hub/gpt2", overlays=(), check=False, env={"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    )
    assert result.returncode != 0
    log = (workdir / "logs" / "models" / "provision_gpt2.log").read_text()
    assert "model 'gpt2' (openai-community/gpt2) is not available" in log and "Three ways out" in log
    assert not (workdir / "models" / "hub" / "gpt2").exists()


def edit(path):
    path.write_text(path.read_text() + "\n# edited by the rerun test\n")


def test_editing_a_package_module_reruns_the_stages_that_import_it(workdir):
    """Also shows determinism: the rerun from a fresh extraction reproduces every output exactly."""
    outputs = sorted(p for p in (workdir / "results").rglob("*") if p.suffix in (".parquet", ".safetensors"))
    before = {path: path.read_bytes() for path in outputs}
    edit(workdir / "src" / "interpflow" / "analyses" / "hooks_vs_hidden.py")
    assert dry_run(workdir) == {"hooks_vs_hidden_statistics": 1, **dict.fromkeys(PLOTS, 1)}
    edit(workdir / "src" / "interpflow" / "plotting" / "style.py")
    edit(workdir / "src" / "interpflow" / "hooks.py")
    expected = {"extract_activations": 1, "hooks_vs_hidden_statistics": 1, **dict.fromkeys(PLOTS, 1)}
    assert dry_run(workdir) == expected
    run = snakemake(workdir)
    ran = scheduled_jobs(run.stdout + run.stderr)
    assert ran == expected
    assert dry_run(workdir) == {}
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path.name} changed on an identical rerun"

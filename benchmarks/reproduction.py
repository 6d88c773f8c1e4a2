"""Benchmark suite: the full reproduction config through snakemake, on random models of the real shapes.

Builds random-weight gpt2 (12 x 768), gpt2-medium (24 x 1024) and gpt2-xl (48 x 1600) once into
benchmarks/out/models/ (cost does not depend on the weight values), copies the workflow into
benchmarks/out/reproduction/, and runs config.yaml there with every model pointed at its random
stand-in (CPU, float32). Every stage logs its wall time (process start to exit), the part of it
before the stage's work began (interpreter start-up and imports) and peak RSS as its last line; the
suite collects them and checks the targets:

- the whole reproduction <= 4 minutes of compute, judged on the sum of stage wall times, start-up
  included (model building excluded); the sum without start-up is printed next to it;
- the intervention sweep >= 2x faster than the per-layer loop (engine: reference, rerun in the same
  suite), with equal tables (1e-5). Each side is what the workflow runs for the sweep with that
  engine: the extraction stage (its hidden states feed either engine's tables) plus the
  interventions stage, each loading the model;
- a plot-only change (subspace_removal.ravel.plot.bins) reruns in <= 15 s end to end (`snakemake figures`);
- no stage loads a model it does not use, none loads the same model twice;
- every gpt2-xl stage peaks under 1.5x the float32 weight size.

The machine's float32 matrix-product throughput is measured before and after, so runs on a machine
whose speed varies (shared cloud cores) can be compared.

Run:  .venv/bin/python benchmarks/reproduction.py [--cores 2] [--model-threads 1]
Prints the per-stage table, the total and each target; writes benchmarks/out/reproduction-<model threads>-threads.json.
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import matmul_gflops  # noqa: E402
from random_models import ROOT, SHAPES, random_model  # noqa: E402

from interpflow.runtime.stage_logging import stage_usage  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
WORKDIR = OUT / "reproduction"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
PROJECT = ["Snakefile", "config.yaml", "rules", "scripts", "src", "schemas", "resources", "report", "envs"]
# Local runs: where a SLURM client is installed but no controller answers, the SLURM executor plugin
# probes `scontrol` whenever snakemake starts and waits ~9 s for it; an empty SLURM_CONF fails it at once.
LOCAL_ENV = {**os.environ, "SLURM_CONF": os.devnull}
LOADED = re.compile(r"interpflow\.models\.loading: loaded (\S+) \(")


def fresh_workdir() -> Path:
    """A copy of the workflow with no results, so every stage runs."""
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    for part in PROJECT:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, WORKDIR / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, WORKDIR / part)
    return WORKDIR


def point_models_at(models: dict[str, Path], model_threads: int) -> None:
    """Rewrite the copy's config.yaml so each model loads from its random stand-in (CPU, float32), its
    model stages on ``model_threads`` threads."""
    config = yaml.safe_load((WORKDIR / "config.yaml").read_text())
    config["device"] = "cpu"
    config["resources"]["model_stage"]["threads"] = model_threads
    config["models"] = {
        shape: {"source": "local", "path": str(folder), "n_layer": SHAPES[shape]["n_layer"]}
        for shape, folder in models.items()
    }
    (WORKDIR / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def write_overlay(name: str, changes: dict) -> str:
    (WORKDIR / f"{name}.yaml").write_text(yaml.safe_dump(changes))
    return f"{name}.yaml"


def run_snakemake(*args: str, overlays: tuple[str, ...]) -> float:
    """Run snakemake in the work folder; returns its wall time in seconds."""
    command = [SNAKEMAKE, *args, *(["--configfile", *overlays] if overlays else [])]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=WORKDIR, capture_output=True, text=True, env=LOCAL_ENV)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-5000:]}")
    return time.perf_counter() - started


def stage_table() -> pd.DataFrame:
    """One row per stage log: stage (log path), wall_s, start_up_s, peak_rss_mib, models it loaded."""
    rows = []
    for log in sorted((WORKDIR / "logs").rglob("*.log")):
        usage = stage_usage(log)
        if usage is None:
            continue
        text = log.read_text()
        loaded = [Path(path).name for path in LOADED.findall(text)]
        rows.append({"stage": log.relative_to(WORKDIR / "logs").with_suffix("").as_posix(), **usage, "loaded": loaded})
    return pd.DataFrame(rows)


def expected_loads(stage: str) -> list[str]:
    """The models a stage (by log path) should load: its own model, once, for the two model stages.

    Log paths are ``activations/<model>/<text>`` and ``<method>/<instance>/<model>/<stage>``.
    """
    parts = stage.split("/")
    if parts[0] == "activations":
        return [f"{parts[1]}-random"]
    if parts[0] == "subspace_removal" and parts[-1] == "interventions":
        return [f"{parts[2]}-random"]
    return []


def same_table(found: pd.DataFrame, expected: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(found, expected, rtol=1e-5, atol=1e-5)
    except AssertionError:
        return False
    return True


def differences(found: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    """Per float column that differs: the largest |found - expected| and the column's largest |value|."""
    lines = []
    for column in expected.select_dtypes("float").columns:
        gap = (found[column] - expected[column]).abs().max()
        if gap > 0:
            lines.append(f"{column}: max |difference| {gap:.3g} (largest |value| {expected[column].abs().max():.3g})")
    return lines


def weight_mib(shape: str) -> float:
    return sum(path.stat().st_size for path in random_model(shape).glob("*.safetensors")) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--model-threads", type=int, default=1, help="resources.model_stage.threads (default 1, as config.yaml)"
    )
    args = parser.parse_args()
    cores = ("--cores", str(args.cores))

    started = time.perf_counter()
    models = {shape: random_model(shape) for shape in SHAPES}
    print(f"random models ready in {time.perf_counter() - started:.0f} s: {', '.join(models)}", flush=True)
    speed_before = matmul_gflops(args.cores)
    fresh_workdir()
    point_models_at(models, args.model_threads)
    end_to_end = run_snakemake(*cores, overlays=())
    stages = stage_table()
    tables = {path: pd.read_parquet(path) for path in (WORKDIR / "results" / "subspace_removal").rglob("*.parquet")}

    # The per-layer loop, rerun in place of the cached sweep, on the same extraction.
    reference = write_overlay("reference", {"subspace_removal": {"ravel": {"engine": "reference"}}})
    run_snakemake(*cores, "subspace_removal", overlays=(reference,))
    reference_stages = stage_table().set_index("stage")
    equal_tables = all(same_table(pd.read_parquet(path), table) for path, table in tables.items())
    engine_differences = {
        path.relative_to(WORKDIR).as_posix(): differences(pd.read_parquet(path), table)
        for path, table in tables.items()
    }
    run_snakemake(*cores, "subspace_removal", overlays=())  # back to the cached engine

    # A plot-only change, end to end.
    bins = write_overlay("bins", {"subspace_removal": {"ravel": {"plot": {"bins": 40}}}})
    plot_rerun = run_snakemake(*cores, "figures", overlays=(bins,))

    speed_after = matmul_gflops(args.cores)
    by_stage = stages.set_index("stage")
    sr_text = yaml.safe_load((ROOT / "config.yaml").read_text())["subspace_removal"]["ravel"]["text"]
    extraction = by_stage.loc[f"activations/gpt2-xl/{sr_text}", "wall_s"]
    cached_sweep = extraction + by_stage.loc["subspace_removal/ravel/gpt2-xl/interventions", "wall_s"]
    reference_sweep = extraction + reference_stages.loc["subspace_removal/ravel/gpt2-xl/interventions", "wall_s"]
    total = stages["wall_s"].sum()
    start_up = stages["start_up_s"].sum()
    xl_limit = 1.5 * weight_mib("gpt2-xl")
    xl_peak = stages[stages["stage"].str.contains("/gpt2-xl/")]["peak_rss_mib"].max()
    loads_ok = all(row.loaded == expected_loads(row.stage) for row in stages.itertuples())
    loaders = sorted(row.stage for row in stages.itertuples() if row.loaded)

    print(f"machine speed: {speed_before:.0f} GFLOP/s before, {speed_after:.0f} GFLOP/s after (float32 products)")
    print(f"model stages on {args.model_threads} thread(s), snakemake --cores {args.cores}")
    print()
    print(stages.drop(columns="loaded").to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print()
    targets = {
        "total compute <= 240 s": (
            total <= 240,
            f"{total:.0f} s of stage wall time, of which {start_up:.0f} s start-up and imports "
            f"(work alone {total - start_up:.0f} s; end to end {end_to_end:.0f} s, {args.cores} cores)",
        ),
        "sweep >= 2x faster than the per-layer loop": (
            reference_sweep / cached_sweep >= 2 and equal_tables,
            f"{reference_sweep:.1f} s / {cached_sweep:.1f} s = {reference_sweep / cached_sweep:.2f}x "
            f"(each with the {extraction:.1f} s extraction; interventions stages alone "
            f"{(reference_sweep - extraction) / (cached_sweep - extraction):.2f}x), tables equal: {equal_tables}",
        ),
        "plot-only change <= 15 s end to end": (plot_rerun <= 15, f"{plot_rerun:.1f} s"),
        "models loaded once, only where used": (loads_ok, f"loaded by {', '.join(loaders)}"),
        "gpt2-xl stages < 1.5x weights": (xl_peak < xl_limit, f"peak {xl_peak:.0f} MiB < {xl_limit:.0f} MiB"),
    }
    for name, (met, detail) in targets.items():
        print(f"{'met ' if met else 'MISS'}  {name}: {detail}")
    print("\ncached sweep against the per-layer loop, table by table:")
    for path, lines in engine_differences.items():
        print(f"  {path}: {'; '.join(lines) or 'identical'}")
    result = {
        "cores": args.cores,
        "model_threads": args.model_threads,
        "matmul_gflops": {"before": speed_before, "after": speed_after},
        "stages": stages.to_dict(orient="records"),
        "total_compute_s": total,
        "total_start_up_s": start_up,
        "end_to_end_s": end_to_end,
        "sweep": {
            "extraction_s": extraction,
            "cached_s": cached_sweep,
            "reference_s": reference_sweep,
            "tables_equal": equal_tables,
            "differences": engine_differences,
        },
        "plot_only_rerun_s": plot_rerun,
        "xl_peak_rss_mib": xl_peak,
        "xl_limit_mib": xl_limit,
        "targets": {name: bool(met) for name, (met, _) in targets.items()},
    }
    (OUT / f"reproduction-{args.model_threads}-threads.json").write_text(json.dumps(result, indent=2) + "\n")
    if not all(met for met, _ in targets.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()

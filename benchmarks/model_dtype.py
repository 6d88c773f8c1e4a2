"""The gpt2-xl stages of the reproduction in bfloat16 against float32: wall time and peak RSS.

Runs the two instances of ``config.yaml`` that read gpt2-xl (``subspace_removal__ravel`` and
``repeated_token_mi__coffee``) through snakemake on the random-weight gpt2-xl stand-in
(``benchmarks/random_models.py``), once with ``models.gpt2-xl.dtype: float32`` and once with
``bfloat16`` (its weights stored once in bfloat16 by the workflow's ``store_model_in_dtype`` stage), each in a
fresh copy of the workflow, and prints every gpt2-xl stage's wall time and peak RSS side by side (from the
stages' own last log lines), with the machine (``machine.describe``) and its matmul rate before and after.
These stages read short texts: loading dominates them; ``low_precision.py`` measures where compute does.

Run:  .venv/bin/python benchmarks/model_dtype.py [--cores 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_facts, matmul_gflops  # noqa: E402
from random_models import random_model  # noqa: E402
from reproduction import fresh_workdir, point_models_at, run_snakemake, stage_table, write_overlay  # noqa: E402

TARGETS = ("subspace_removal__ravel", "repeated_token_mi__coffee")
DTYPES = ("float32", "bfloat16")


def gpt2_xl_stages(dtype: str, cores: int, model_threads: int) -> pd.DataFrame:
    fresh_workdir()
    point_models_at({shape: random_model(shape) for shape in ("gpt2", "gpt2-medium", "gpt2-xl")}, model_threads)
    overlay = write_overlay("dtype", {"models": {"gpt2-xl": {"dtype": dtype}}})
    run_snakemake("--cores", str(cores), *TARGETS, overlays=(overlay,))
    stages = stage_table()
    return stages[stages["stage"].str.contains("gpt2-xl")].set_index("stage")[["wall_s", "peak_rss_mib"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--model-threads", type=int, default=2, help="resources.model_stage.threads")
    args = parser.parse_args()
    print(f"machine: {describe(machine_facts(args.model_threads))}")
    before = matmul_gflops(args.cores)
    runs = {dtype: gpt2_xl_stages(dtype, args.cores, args.model_threads) for dtype in DTYPES}
    after = matmul_gflops(args.cores)
    table = runs["float32"].join(runs["bfloat16"], how="outer", suffixes=("_float32", "_bfloat16"))
    table["wall_ratio"] = table["wall_s_bfloat16"] / table["wall_s_float32"]
    table["peak_ratio"] = table["peak_rss_mib_bfloat16"] / table["peak_rss_mib_float32"]
    print(f"matmul rate: {before:.0f} GFLOP/s before, {after:.0f} after ({args.cores} threads, float32)")
    print(table.to_string(float_format=lambda value: f"{value:.2f}"))
    totals = table[["wall_s_float32", "wall_s_bfloat16"]].sum()
    print(
        f"gpt2-xl stages: wall {totals['wall_s_float32']:.1f} s float32, {totals['wall_s_bfloat16']:.1f} s bfloat16; "
        f"largest peak RSS {table['peak_rss_mib_float32'].max():.0f} MiB float32, "
        f"{table['peak_rss_mib_bfloat16'].max():.0f} MiB bfloat16"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

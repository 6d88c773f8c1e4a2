"""Benchmark: the subspace_removal sweep, cached + batched engine vs the per-layer reference loop,
and extraction against a bare forward pass.

At a real model's shape with random weights (``--shape``: gpt2-xl, 48 layers x 1600, by default;
llama-3.2-1b, 16 layers x 2048 with a gated MLP and grouped-query attention), on the seed's Ravel
text, float32, CPU. Each engine runs in its own process (so each peak RSS is its own), timed from
a loaded model:

- reference: one clean pass, then one full forward pass per layer with a hook;
- cached: one extraction pass into the activation store, then the batched sweep from the cache;
- extraction: the extraction pass (every site the sweep needs, copied out) against one bare forward
  pass of the same transformer over the same tokens, alternated and timed best of five.

Run:  .venv/bin/python benchmarks/subspace_sweep.py [--shape llama-3.2-1b] [--batch-size 16] [--threads 2]
Prints the machine's matmul speed before and after, both times, the speed-up, both peak memories
and their ratio, the extraction overhead, and checks that both engines give the same tables (1e-5);
writes benchmarks/out/subspace_sweep_<shape>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import matmul_gflops  # noqa: E402
from random_models import ROOT, random_model  # noqa: E402

from interpflow.runtime.schema import option_defaults  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
TEXT = ROOT / "resources" / "texts" / "ravel.txt"


def run_engine(engine: str, model_dir: str, batch_size: int, threads: int) -> None:
    """Child process: time one engine, save its tables, print a JSON line with time and peak RSS."""
    import torch

    from interpflow.methods.subspace_removal.analysis import (
        hidden_state_impact_table,
        logit_impact_table,
    )
    from interpflow.methods.subspace_removal.interventions import sweep_from_cache, sweep_reference
    from interpflow.methods.subspace_removal.method import METHOD
    from interpflow.models.architectures import adapter_of
    from interpflow.models.loading import load_model
    from interpflow.stores.extraction import extract_activations
    from interpflow.stores.texts import read_text_set

    torch.set_num_threads(threads)
    model, tokenizer = load_model(model_dir, "cpu")
    n_layer = adapter_of(model).n_layer(model.config)
    texts = read_text_set(TEXT).texts
    layers = list(range(n_layer))
    instance = {"inspection_layer": 0, "intervention_layer": "middle", "sweep": True, "neuron_site": "mlp.hook_pre"}
    sites = METHOD.required_sites(instance, n_layer)
    if engine == "extraction":
        print(json.dumps(extraction_overhead(model, tokenizer, texts, sites)))
        return
    started = time.perf_counter()
    if engine == "reference":
        token_ids = torch.tensor(tokenizer(texts[0])["input_ids"])
        runs = sweep_reference(model, token_ids, layers, 1)
        tokens = None
    else:
        store = extract_activations(model, tokenizer, texts, sites)
        runs = sweep_from_cache(model, store, layers, 1, batch_size=batch_size)
        tokens = store.tokens
    seconds = time.perf_counter() - started
    if tokens is None:
        from interpflow.stores.extraction import token_table

        tokens = token_table(tokenizer, 0, token_ids.tolist())
    logit_impact_table(runs, tokens).to_parquet(OUT / f"subspace_sweep_{engine}_logit.parquet")
    hidden_state_impact_table(runs).to_parquet(OUT / f"subspace_sweep_{engine}_hidden.parquet")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"engine": engine, "seconds": seconds, "peak_rss_mib": peak_mib, "n_tokens": len(tokens)}))


def extraction_overhead(model, tokenizer, texts: list[str], sites: list[str], repeats: int = 5) -> dict:
    """Best-of-``repeats`` seconds of a bare forward pass and of the extraction, alternated."""
    import torch

    from interpflow.stores.extraction import extract_activations

    batch = tokenizer(texts, return_tensors="pt", padding=True)
    bare, extraction = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        with torch.no_grad():
            model.base_model(**batch, use_cache=False)
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        extract_activations(model, tokenizer, texts, sites)
        extraction.append(time.perf_counter() - started)
    return {"engine": "extraction", "bare_forward_s": min(bare), "extraction_s": min(extraction), "sites": len(sites)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="gpt2-xl")
    parser.add_argument("--batch-size", type=int, default=option_defaults("subspace_removal")["batch_size"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        run_engine(args.engine, args.model_dir, args.batch_size, args.threads)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    speed_before = matmul_gflops(args.threads)
    print(f"machine: float32 matmul {speed_before:.0f} GFLOP/s on {args.threads} threads")
    started = time.perf_counter()
    model_dir = random_model(args.shape)
    print(f"model {args.shape} (random weights) ready in {time.perf_counter() - started:.0f} s: {model_dir}")
    results = {}
    for engine in ("reference", "cached", "extraction"):
        command = [
            sys.executable,
            __file__,
            "--engine",
            engine,
            "--model-dir",
            str(model_dir),
            "--batch-size",
            str(args.batch_size),
            "--threads",
            str(args.threads),
        ]
        line = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        results[engine] = json.loads(line)
        if engine != "extraction":
            result = results[engine]
            print(f"{engine:>9}: {result['seconds']:7.1f} s   peak RSS {result['peak_rss_mib']:8.0f} MiB")
    for table in ("logit", "hidden"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(OUT / f"subspace_sweep_cached_{table}.parquet"),
            pd.read_parquet(OUT / f"subspace_sweep_reference_{table}.parquet"),
            atol=1e-5,
            rtol=1e-5,
            check_exact=False,
        )
    speedup = results["reference"]["seconds"] / results["cached"]["seconds"]
    memory = results["cached"]["peak_rss_mib"] / results["reference"]["peak_rss_mib"]
    extraction = results.pop("extraction")
    overhead = extraction["extraction_s"] / extraction["bare_forward_s"]
    speed_after = matmul_gflops(args.threads)
    summary = {
        "shape": args.shape,
        "batch_size": args.batch_size,
        "threads": args.threads,
        **results,
        "speedup": speedup,
        "peak_memory_ratio": memory,
        "extraction": extraction,
        "extraction_overhead": overhead,
        "matmul_gflops": [speed_before, speed_after],
        "tables_equal_1e-5": True,
    }
    (OUT / f"subspace_sweep_{args.shape}.json").write_text(json.dumps(summary, indent=2))
    print(f"speed-up (reference / cached): {speedup:.2f}x   (target >= 2x)")
    print(f"peak memory (cached / reference): {memory:.2f}x   (target <= 1.5x)")
    print(
        f"extraction of {extraction['sites']} sites: {extraction['extraction_s']:.2f} s against a bare forward pass "
        f"of {extraction['bare_forward_s']:.2f} s: {overhead:.2f}x   (target <= 1.2x)"
    )
    print("tables equal within 1e-5: yes")
    print(f"machine: float32 matmul {speed_after:.0f} GFLOP/s on {args.threads} threads (before: {speed_before:.0f})")


if __name__ == "__main__":
    main()

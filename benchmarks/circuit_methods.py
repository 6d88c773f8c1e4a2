"""The circuit methods at GPT-2 and GPT-2 XL shapes: activation patching against its gradient estimates.

On random-weight models of real shapes (``benchmarks/random_models.py``: gpt2 is 12 blocks × 768 with 12
heads, gpt2-xl 48 × 1600 with 25) and the demo's first ``--pairs`` IOI pairs (14 tokens), each measurement
in a fresh process (so each peak RSS is its own), from a loaded model and the clean prompts' store:

- ``activation_patching``: one forward pass per slot (every block's ``hook_resid_pre``, ``hook_attn_out``,
  ``hook_mlp_out`` at every position and every head of ``attn.hook_z``), batched as the stage runs it;
- ``attribution_patching``: the same slots estimated, one forward and one backward pass per pair;
- ``edge_attribution_patching``: every edge between components, one forward and one backward pass per
  pair plus a vector-Jacobian product of each block's output projection per later target;
- ``direct_logit_attribution``: every head's, MLP's and neuron's direct term.

EAP is also measured at GPT-2's width with fewer blocks (``--layers``): its passes do not grow with the
edges, which grow with the square of the depth, so its time per edge falls as the model deepens.

Run:  .venv/bin/python benchmarks/circuit_methods.py [--shapes gpt2 gpt2-xl] [--pairs 1] [--layers 3 6]
Writes benchmarks/out/circuit_methods.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import matmul_gflops  # noqa: E402
from random_models import ROOT, SHAPES  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
PAIRS = ROOT / "resources" / "texts" / "ioi_pairs.tsv"
SITES = ["hook_resid_pre", "hook_attn_out", "hook_mlp_out", "attn.hook_z"]
# Activation patching at GPT-2 XL's 3216 slots would take most of an hour on 2 cores: there the slots
# compared are ``--xl-sites`` (every block's residual stream at every position: 672 slots by default).
XL_SITES = ["hook_resid_pre"]
# The benchmark's settings; every other option of a method at its schema's default (method_options).
OPTIONS = {"positions": "all", "batch_size": 16, "neurons": False}
METHODS = ("activation_patching", "attribution_patching", "edge_attribution_patching", "direct_logit_attribution")


def shape_model(shape: str, n_layer: int | None = None) -> Path:
    """A random model of ``shape`` (with ``n_layer`` blocks instead of its own where given), built once."""
    from interpflow.models.loading import build_embedded_model

    spec = {**SHAPES[shape], "n_positions": 1024, "seed": 0}
    spec["n_layer"] = n_layer or spec["n_layer"]
    folder = OUT / "models" / f"{shape}-{spec['n_layer']}-blocks-random"
    if not (folder / "model.safetensors").is_file():
        build_embedded_model(spec, ROOT / "resources" / "gpt2-tokenizer", folder)
    return folder


def method_options(method: str, sites: list[str]) -> dict:
    """An instance of ``method``: the schema's defaults, then :data:`OPTIONS` where the method has them
    (``patch_sites`` from ``sites``)."""
    from interpflow.config import load_schema

    properties = load_schema()["$defs"][method]["properties"]
    options = {name: spec["default"] for name, spec in properties.items() if "default" in spec}
    chosen = {**OPTIONS, "patch_sites": sites}
    return {**options, **{name: value for name, value in chosen.items() if name in properties}}


def measure(method: str, shape: str, n_layer: int, n_pairs: int, sites: list[str]) -> dict:
    """Child: load, extract the clean store, run ``method`` over the first ``n_pairs`` pairs; seconds of the
    method alone, the slots or edges it scored, peak RSS."""
    import pandas as pd

    from interpflow.methods.activation_patching.patching import patch_pairs
    from interpflow.methods.attribution_patching.gradients import attribute_pairs
    from interpflow.methods.direct_logit_attribution.attribution import attribute_pairs as attribute_logits
    from interpflow.methods.edge_attribution_patching.edges import attribute_edges
    from interpflow.models.loading import load_model
    from interpflow.registry import METHODS as REGISTERED
    from interpflow.stores.extraction import extract_activations

    model, tokenizer = load_model(shape_model(shape, n_layer), "cpu")
    path = OUT / f"circuit_pairs_{n_pairs}.tsv"
    pd.read_csv(PAIRS, sep="\t", dtype=str).head(n_pairs).to_csv(path, sep="\t", index=False)
    clean = pd.read_csv(path, sep="\t", dtype=str)["clean"].tolist()
    options = method_options(method, sites)
    store = extract_activations(model, tokenizer, clean, REGISTERED[method].required_sites(options, n_layer))
    run = {
        "activation_patching": patch_pairs,
        "attribution_patching": attribute_pairs,
        "edge_attribution_patching": attribute_edges,
        "direct_logit_attribution": attribute_logits,
    }[method]
    started = time.perf_counter()
    tables = run(model, tokenizer, store, path, "clean", options)
    seconds = time.perf_counter() - started
    scored = len(tables.get("patching", tables.get("edges", tables.get("attribution"))))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "method": method,
        "shape": shape,
        "n_layer": n_layer,
        "sites": sites,
        "seconds": seconds,
        "scored": scored,
        "peak_rss_mib": peak,
    }


def child(method: str, shape: str, n_layer: int, args) -> dict:
    command = [sys.executable, __file__, "--child", method, "--child-shape", shape, "--child-layers", str(n_layer)]
    command += ["--pairs", str(args.pairs), "--threads", str(args.threads), "--child-sites"]
    command += args.xl_sites if shape == "gpt2-xl" else SITES
    return json.loads(
        subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", choices=["gpt2", "gpt2-xl"], default=["gpt2", "gpt2-xl"])
    parser.add_argument("--pairs", type=int, default=1)
    parser.add_argument("--layers", type=int, nargs="*", default=[3, 6], help="EAP also at these depths, GPT-2 wide")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--child-shape", help=argparse.SUPPRESS)
    parser.add_argument("--xl-sites", nargs="+", default=XL_SITES, help="the slots compared at gpt2-xl")
    parser.add_argument("--child-layers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-sites", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(measure(args.child, args.child_shape, args.child_layers, args.pairs, args.child_sites)))
        return 0
    before = matmul_gflops(args.threads)
    print(f"machine: float32 matmul {before:.0f} GFLOP/s on {args.threads} threads; {args.pairs} pairs of 14 tokens")
    results = [child(method, shape, SHAPES[shape]["n_layer"], args) for shape in args.shapes for method in METHODS]
    results += [child("edge_attribution_patching", "gpt2", n_layer, args) for n_layer in sorted(args.layers)]
    for result in results:
        per = result["seconds"] / result["scored"] * 1e3
        print(
            f"{result['shape']:>8} {result['method']:>26} {result['n_layer']:>2} blocks: "
            f"{result['seconds'] / args.pairs:8.2f} s per pair, {result['scored']:5d} scored ({per:.3f} ms each), "
            f"peak RSS {result['peak_rss_mib']:.0f} MiB"
        )
    speedups = {}
    for shape in args.shapes:
        full = {r["method"]: r for r in results if r["shape"] == shape and r["n_layer"] == SHAPES[shape]["n_layer"]}
        patched, estimated = full["activation_patching"], full["attribution_patching"]
        speedups[shape] = patched["seconds"] / estimated["seconds"]
        print(
            f"{shape}: on the same {patched['scored']} slots ({', '.join(patched['sites'])}), attribution patching is "
            f"{speedups[shape]:.1f}x faster per pair than activation patching; edge attribution patching scores "
            f"{full['edge_attribution_patching']['scored']} edges in "
            f"{full['edge_attribution_patching']['seconds'] / patched['seconds']:.3f} of patching's time"
        )
    print(f"machine: float32 matmul {matmul_gflops(args.threads):.0f} GFLOP/s after (before: {before:.0f})")
    (OUT / "circuit_methods.json").write_text(json.dumps({"results": results, "atp_speedup": speedups}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

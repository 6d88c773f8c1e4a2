"""The circuit methods at GPT-2's shape: activation patching against its gradient estimates, and what EAP costs.

On random-weight models of GPT-2's width (768, 12 heads; ``benchmarks/random_models.py``) and the demo's
first ``--pairs`` IOI pairs (14 tokens), each measurement in a fresh process (so each peak RSS is its own),
from a loaded model and the clean prompts' store:

- ``activation_patching``: one forward pass per slot (every block's ``hook_resid_pre``, ``hook_attn_out``,
  ``hook_mlp_out`` at every position and every head of ``attn.hook_z``), batched as the stage runs it;
- ``attribution_patching``: the same slots estimated, one forward and one backward pass per pair;
- ``edge_attribution_patching``: every edge between components, one forward and one backward pass per
  pair plus a vector-Jacobian product of each block's output projection per later target;
- ``direct_logit_attribution``: every head's, MLP's and neuron's direct term.

EAP is measured at 3, 6 and 12 blocks (``--layers``): its passes do not grow with the edges, which grow
with the square of the depth, so its time per edge falls as the model deepens.

Run:  .venv/bin/python benchmarks/circuit_methods.py [--pairs 2] [--layers 3 6 12] [--threads 2]
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
from random_models import ROOT  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
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
    "neurons": False,
    "circuit_edges": 20,
    "threshold": None,
}
METHODS = ("activation_patching", "attribution_patching", "edge_attribution_patching", "direct_logit_attribution")


def gpt2_width_model(n_layer: int) -> Path:
    """A random model of GPT-2's width with ``n_layer`` blocks, built once."""
    from interpflow.models.loading import build_embedded_model

    folder = OUT / "models" / f"gpt2-width-{n_layer}-random"
    if not (folder / "model.safetensors").is_file():
        spec = {"n_layer": n_layer, "n_embd": 768, "n_head": 12, "n_positions": 1024, "seed": 0}
        build_embedded_model(spec, ROOT / "resources" / "gpt2-tokenizer", folder)
    return folder


def measure(method: str, n_layer: int, n_pairs: int) -> dict:
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

    model, tokenizer = load_model(gpt2_width_model(n_layer), "cpu")
    path = OUT / f"circuit_pairs_{n_pairs}.tsv"
    pd.read_csv(PAIRS, sep="\t", dtype=str).head(n_pairs).to_csv(path, sep="\t", index=False)
    clean = pd.read_csv(path, sep="\t", dtype=str)["clean"].tolist()
    store = extract_activations(model, tokenizer, clean, REGISTERED[method].required_sites(OPTIONS, n_layer))
    run = {
        "activation_patching": patch_pairs,
        "attribution_patching": attribute_pairs,
        "edge_attribution_patching": attribute_edges,
        "direct_logit_attribution": attribute_logits,
    }[method]
    started = time.perf_counter()
    tables = run(model, tokenizer, store, path, "clean", OPTIONS)
    seconds = time.perf_counter() - started
    scored = len(tables.get("patching", tables.get("edges", tables.get("attribution"))))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "n_layer": n_layer, "seconds": seconds, "scored": scored, "peak_rss_mib": peak}


def child(method: str, n_layer: int, args) -> dict:
    command = [sys.executable, __file__, "--child", method, "--child-layers", str(n_layer), "--pairs", str(args.pairs)]
    command += ["--threads", str(args.threads)]
    return json.loads(
        subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--layers", type=int, nargs="+", default=[3, 6, 12])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--child-layers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(measure(args.child, args.child_layers, args.pairs)))
        return 0
    before = matmul_gflops(args.threads)
    print(f"machine: float32 matmul {before:.0f} GFLOP/s on {args.threads} threads; {args.pairs} pairs of 14 tokens")
    deepest = max(args.layers)
    results = [child(method, deepest, args) for method in METHODS]
    results += [
        child("edge_attribution_patching", n_layer, args) for n_layer in sorted(args.layers) if n_layer != deepest
    ]
    for result in results:
        per = result["seconds"] / result["scored"] * 1e3
        print(
            f"{result['method']:>26} {result['n_layer']:>2} blocks: {result['seconds']:7.2f} s, "
            f"{result['scored']:5d} scored ({per:.3f} ms each), peak RSS {result['peak_rss_mib']:.0f} MiB"
        )
    by_method = {result["method"]: result for result in results if result["n_layer"] == deepest}
    ratio = by_method["activation_patching"]["seconds"] / by_method["attribution_patching"]["seconds"]
    print(f"attribution patching: {ratio:.1f}x faster than activation patching on the same slots")
    print(f"machine: float32 matmul {matmul_gflops(args.threads):.0f} GFLOP/s after (before: {before:.0f})")
    (OUT / "circuit_methods.json").write_text(json.dumps({"results": results, "atp_speedup": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

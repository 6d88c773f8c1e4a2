"""Benchmark: SAE training with the decorrelation term in its covariance form vs its Gram form.

At gpt2 shape: ``blocks.6.mlp.hook_pre`` activations (3072 wide) of a random-weight gpt2 on the Palinka text,
6144 latents, k = 1024, 100 full-batch Adam epochs, float32, CPU. Three runs from the same seed:

- ``covariance``: the direct form, the 6144 x 6144 latent covariance every epoch, over all latents;
- ``gram``: the same loop with the tokens x tokens Gram form
  (interpflow.sae.core.tied_ksparse.decorrelation_penalty_gram);
- ``gram_active``: the loop the workflow runs, Gram form and products over the active latents only
  (interpflow.sae.core.tied_ksparse.KSparseAutoencoder.forward_active).

Their loss curves must agree (1e-4 relative). The target is the loop as a whole: ``gram_active``
at least 10x faster than ``covariance``. The benchmark also times the decorrelation term alone and
the dense matrix products every epoch needs, so the floor of the loop is visible.

Run:  .venv/bin/python benchmarks/sae_decorrelation.py [--epochs 100] [--threads 2] [--device cpu]
Prints the three training times, the speed-ups and the largest relative difference of the loss
curves; writes benchmarks/out/sae_decorrelation.json (sae_decorrelation_cuda.json with
``--device cuda``). Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import matmul_gflops  # noqa: E402
from random_models import ROOT, random_model  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
TEXT = ROOT / "resources" / "texts" / "palinka.txt"
LAYER = 6  # the config's "middle" of gpt2's 12 blocks


def palinka_activations() -> np.ndarray:
    """``(tokens, 3072)`` float32: blocks.6.mlp.hook_pre of the random gpt2 over the Palinka text."""
    from interpflow.models.loading import load_model
    from interpflow.stores.extraction import extract_activations

    site = f"blocks.{LAYER}.mlp.hook_pre"
    model, tokenizer = load_model(random_model("gpt2"), "cpu", n_layer=12)
    return extract_activations(model, tokenizer, [TEXT.read_text().strip()], [site])[site]


def synchronize(device) -> None:
    """Wait for queued GPU work, so that wall-clock timers measure it."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_penalty_alone(penalty, z, repeats: int = 5) -> float:
    """Seconds for one forward and backward of the decorrelation term alone on latents ``z``."""
    leaf = z.clone().requires_grad_(True)
    penalty(leaf).backward()  # warm-up
    synchronize(z.device)
    started = time.perf_counter()
    for _ in range(repeats):
        leaf.grad = None
        penalty(leaf).backward()
    synchronize(z.device)
    return (time.perf_counter() - started) / repeats


def time_products(x, latent_dim: int, device, repeats: int = 5) -> float:
    """Seconds for the five dense ``tokens x input x latents`` products of one dense epoch (forward
    encoder and decoder, the latents' gradient and the weight's two gradient products)."""
    import torch

    x = torch.from_numpy(x).to(device)
    weight = torch.randn(latent_dim, x.shape[1], device=device)
    latents = x @ weight.T

    def epoch_products():
        return x @ weight.T, latents @ weight, x @ weight.T, latents.T @ x, latents.T @ x

    epoch_products()  # warm-up
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        epoch_products()
    synchronize(device)
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (training and timings; extraction on the CPU)")
    args = parser.parse_args()

    import torch

    from interpflow.methods.sparse_autoencoder.analysis import sae_config
    from interpflow.runtime.schema import option_defaults
    from interpflow.sae.core import tied_ksparse
    from interpflow.sae.core.tied_ksparse import decorrelation_penalty_covariance, decorrelation_penalty_gram
    from interpflow.sae.core.training import train_full_batch
    from interpflow.sae.core.variants import Variant

    torch.set_num_threads(args.threads)
    x = palinka_activations()
    config = sae_config(f"blocks.{LAYER}.mlp.hook_pre", x.shape[1], option_defaults("sparse_autoencoder.sae"))
    ways = {
        "covariance": {"penalty": decorrelation_penalty_covariance, "active_only": False},
        "gram": {"penalty": decorrelation_penalty_gram, "active_only": False},
        "gram_active": {"penalty": decorrelation_penalty_gram, "active_only": True},
    }
    speed_before = matmul_gflops(args.threads)
    runs = {}
    for name, options in ways.items():
        loss_terms = functools.partial(tied_ksparse.loss_terms, **options)
        started = time.perf_counter()
        _, log = train_full_batch(
            x, config, args.epochs, args.device, variant_override=Variant(tied_ksparse.build, loss_terms)
        )
        runs[name] = {"seconds": time.perf_counter() - started, "loss": log["loss"].to_numpy()}
        print(f"{name:>11}: {runs[name]['seconds']:7.1f} s for {args.epochs} epochs", flush=True)
    with torch.no_grad():
        z = tied_ksparse.build(config).encode(torch.from_numpy(x)).to(args.device)
    term = {
        "covariance": time_penalty_alone(decorrelation_penalty_covariance, z),
        "gram": time_penalty_alone(decorrelation_penalty_gram, z),
    }
    products = time_products(x, config.latent_dim, args.device)
    speed_after = matmul_gflops(args.threads)
    seconds = {name: run["seconds"] for name, run in runs.items()}
    speedup = seconds["covariance"] / seconds["gram_active"]
    direct = runs["covariance"]["loss"]
    max_relative = max(float(np.max(np.abs(run["loss"] - direct) / np.abs(direct))) for run in runs.values())
    print(f"tokens x input: {x.shape[0]} x {x.shape[1]}, latents {config.latent_dim}, k {config.k}, {args.device}")
    print(f"training loop speed-up, as the workflow runs it: {speedup:.1f}x (target >= 10x)")
    print(
        f"  Gram form alone: {seconds['covariance'] / seconds['gram']:.1f}x; active latents on top: "
        f"{seconds['gram'] / seconds['gram_active']:.2f}x"
    )
    print(
        f"decorrelation term alone (forward + backward): {term['covariance']:.3f} s vs {term['gram']:.4f} s "
        f"= {term['covariance'] / term['gram']:.0f}x per epoch"
    )
    print(
        f"per epoch: covariance loop {seconds['covariance'] / args.epochs:.3f} s, the five dense products of "
        f"the other terms alone {products:.3f} s, workflow loop {seconds['gram_active'] / args.epochs:.3f} s"
    )
    print(f"loss curves: largest relative difference {max_relative:.2e} (target <= 1e-4)")
    print(f"CPU speed: {speed_before:.0f} GFLOP/s before, {speed_after:.0f} GFLOP/s after (float32 products)")
    OUT.mkdir(parents=True, exist_ok=True)
    result = {
        "shape": {"tokens": x.shape[0], "input": x.shape[1], "latents": config.latent_dim, "k": config.k},
        "epochs": args.epochs,
        "threads": args.threads,
        "device": args.device,
        "matmul_gflops": {"before": speed_before, "after": speed_after},
        "seconds": seconds,
        "speedup": speedup,
        "speedup_gram_form_alone": seconds["covariance"] / seconds["gram"],
        "decorrelation_term_seconds": term,
        "dense_products_seconds_per_epoch": products,
        "loss_max_relative_difference": max_relative,
        "targets_met": bool(speedup >= 10 and max_relative <= 1e-4),
    }
    suffix = "" if args.device == "cpu" else f"_{torch.device(args.device).type}"
    (OUT / f"sae_decorrelation{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    if not result["targets_met"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Benchmark: SAE training with the decorrelation term in its covariance form vs its Gram form.

At gpt2 shape: ``h.6.mlp.c_fc`` activations (3072 wide) of a random-weight gpt2 on the Palinka text,
6144 latents, k = 1024, 100 full-batch Adam epochs, float32, CPU. The covariance form builds the
6144 × 6144 latent covariance every epoch; the Gram form works with the tokens × tokens Gram matrix
of the centred latents (interpflow.sae.decorrelation_penalty_gram). Both runs start from the same
seed; their loss curves must agree (1e-4 relative).

Run:  .venv/bin/python benchmarks/sae_decorrelation.py [--epochs 100] [--threads 2]
Prints both training times, the speed-up (target >= 10x) and the largest relative difference of
the loss curves; writes benchmarks/out/sae_decorrelation.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_models import ROOT, random_model  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
TEXT = ROOT / "resources" / "texts" / "palinka.txt"
LAYER = 6  # the config's "middle" of gpt2's 12 blocks


def palinka_activations() -> np.ndarray:
    """``(tokens, 3072)`` float32: h.6.mlp.c_fc of the random gpt2 over the Palinka text."""
    from interpflow.extraction import extract_activations
    from interpflow.models import load_model

    site = f"h.{LAYER}.mlp.c_fc"
    model, tokenizer = load_model(random_model("gpt2"), "cpu", n_layer=12)
    return extract_activations(model, tokenizer, [TEXT.read_text().strip()], [site])[site]


def time_penalty_alone(penalty, z, repeats: int = 5) -> float:
    """Seconds for one forward and backward of the decorrelation term alone on latents ``z``."""
    leaf = z.clone().requires_grad_(True)
    penalty(leaf).backward()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        leaf.grad = None
        penalty(leaf).backward()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from interpflow.sae import (
        KSparseAutoencoder,
        SAEConfig,
        decorrelation_penalty_covariance,
        decorrelation_penalty_gram,
        train,
    )

    torch.set_num_threads(args.threads)
    x = palinka_activations()
    config = SAEConfig(input_dim=x.shape[1], latent_dim=2 * x.shape[1], k=x.shape[1] // 3, epochs=args.epochs)
    runs = {}
    for name, penalty in (("covariance", decorrelation_penalty_covariance), ("gram", decorrelation_penalty_gram)):
        started = time.perf_counter()
        _, log = train(x, config, penalty=penalty)
        runs[name] = {"seconds": time.perf_counter() - started, "loss": log["total_loss"].to_numpy()}
        print(f"{name:>10}: {runs[name]['seconds']:7.1f} s for {args.epochs} epochs", flush=True)
    with torch.no_grad():
        z = KSparseAutoencoder(config).encode(torch.from_numpy(x))
    term = {
        "covariance": time_penalty_alone(decorrelation_penalty_covariance, z),
        "gram": time_penalty_alone(decorrelation_penalty_gram, z),
    }
    speedup = runs["covariance"]["seconds"] / runs["gram"]["seconds"]
    covariance_loss, gram_loss = runs["covariance"]["loss"], runs["gram"]["loss"]
    max_relative = float(np.max(np.abs(gram_loss - covariance_loss) / np.abs(covariance_loss)))
    print(f"tokens x input: {x.shape[0]} x {x.shape[1]}, latents {config.latent_dim}, k {config.k}")
    print(f"training loop speed-up: {speedup:.1f}x (target >= 10x)")
    print(
        f"decorrelation term alone (forward + backward): {term['covariance']:.3f} s vs {term['gram']:.4f} s "
        f"= {term['covariance'] / term['gram']:.0f}x; the rest of an epoch (encoder, decoder, Adam) takes "
        f"{(runs['gram']['seconds'] / args.epochs - term['gram']):.3f} s"
    )
    print(f"loss curves: largest relative difference {max_relative:.2e} (target <= 1e-4)")
    OUT.mkdir(parents=True, exist_ok=True)
    result = {
        "shape": {"tokens": x.shape[0], "input": x.shape[1], "latents": config.latent_dim, "k": config.k},
        "epochs": args.epochs,
        "threads": args.threads,
        "seconds": {name: run["seconds"] for name, run in runs.items()},
        "speedup": speedup,
        "decorrelation_term_seconds": term,
        "loss_max_relative_difference": max_relative,
        "targets_met": bool(speedup >= 10 and max_relative <= 1e-4),
    }
    (OUT / "sae_decorrelation.json").write_text(json.dumps(result, indent=2) + "\n")
    if not result["targets_met"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

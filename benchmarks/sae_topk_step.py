"""TopK SAE training steps: interpflow's (sparse and dense) against SAELens's TopK trainer, side by side.

Each measurement runs in a fresh process (so its peak RSS is its own): a TopK SAE of ``d_in → d_sae``
latents, ``k`` active, trained for ``--steps`` Adam steps on minibatches of ``--batch`` random Gaussian
activations on ``--device`` (CPU: ``--threads`` threads), after one warm-up step: float32, or with
``--dtype bfloat16`` under ``torch.autocast`` (weights and Adam in float32, the products in bfloat16), for
every trainer alike. The steps alternate between the trainers, ``--rounds`` times, and the device's
matmul rate in that dtype is printed before and after.

- ``interpflow sparse`` / ``interpflow dense``: :func:`interpflow.sae.core.training.train_steps` with the step
  forced (the trainer picks by shape: :func:`interpflow.sae.core.topk.uses_sparse_step`), decoder-row
  constraints, dead-latent counters and all;
- ``saelens``: ``sae_lens.TopKTrainingSAE.training_forward_pass`` with Adam and SAELens's trainer's
  dead-latent counters (its ``use_sparse_activations`` option calls sparse-tensor kernels that this CPU
  build of torch lacks, so the default, off, is measured).

Reported per trainer: tokens/s (median of the rounds), the encoder's FLOP/s (``2 · d_in · d_sae`` per
token, the one dense product a TopK step needs) as a fraction of the matmul rate, and peak RSS (and, on
CUDA, the peak of GPU memory allocated).

    python benchmarks/sae_topk_step.py                      # GPT-2's residual stream: 768 -> 24576, k = 32
    python benchmarks/sae_topk_step.py --shape lecture      # 3072 -> 6144, k = 1024
    python benchmarks/sae_topk_step.py --device cuda --dtype bfloat16
    python benchmarks/sae_topk_step.py --profile           # and each part's share of a step (a profiled run)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import matmul_gflops  # noqa: E402

SHAPES = {"gpt2": (768, 24576, 32), "lecture": (3072, 6144, 1024)}
TRAINERS = ["interpflow sparse", "saelens", "interpflow dense"]


def interpflow_steps(d_in: int, d_sae: int, k: int, batch, steps: int, sparse: bool):
    import functools

    from interpflow.sae.core import topk
    from interpflow.sae.core.config import SAEConfig
    from interpflow.sae.core.training import new_state, train_steps
    from interpflow.sae.core.variants import VARIANTS, Variant

    base = VARIANTS["topk"]
    variant = Variant(
        base.build, functools.partial(topk.loss_terms, sparse=sparse), base.constrain_gradient, base.constrain_weights
    )
    state = new_state(SAEConfig("topk", "x", d_in, d_sae, k, 0.0, 0.0, 4e-4, 0), batch.device)

    def run(n: int) -> None:
        train_steps(
            state,
            (batch for _ in range(n)),
            state.step + n,
            dead_after_tokens=10**7,
            log_every=10**6,
            variant_override=variant,
        )

    return run


def saelens_steps(d_in: int, d_sae: int, k: int, batch, steps: int):
    import torch
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.saes.sae import TrainStepInput

    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k, device=str(batch.device)))
    optimizer = torch.optim.Adam(sae.parameters(), lr=4e-4)
    since_fired = torch.zeros(d_sae, device=batch.device)
    done = [0]

    def run(n: int) -> None:
        for _ in range(n):
            optimizer.zero_grad()
            step = TrainStepInput(batch, {}, since_fired > 10**7 / len(batch), done[0], False)
            output = sae.training_forward_pass(step)
            output.loss.backward()
            optimizer.step()
            with torch.no_grad():  # SAELens's trainer's dead-latent counters
                since_fired.add_(1)
                since_fired[(output.feature_acts > 0).any(dim=0)] = 0
            done[0] += 1

    return run


def measure(trainer: str, d_in: int, d_sae: int, k: int, batch_tokens: int, steps: int, args) -> dict:
    """Run in this process (``--child``): warm-up, then ``steps`` timed steps."""
    import contextlib
    import resource

    import torch

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batch = torch.randn(batch_tokens, d_in, generator=torch.Generator().manual_seed(0)).to(device)
    if trainer.startswith("interpflow"):
        steps_of = interpflow_steps(d_in, d_sae, k, batch, steps, sparse=trainer == "interpflow sparse")
    else:
        steps_of = saelens_steps(d_in, d_sae, k, batch, steps)
    mixed = args.dtype != "float32"
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def run(n: int) -> None:
        with torch.autocast(device.type, dtype=getattr(torch, args.dtype)) if mixed else contextlib.nullcontext():
            steps_of(n)
        synchronize()

    run(1)
    started = time.perf_counter()
    run(steps)
    seconds = time.perf_counter() - started
    result = {
        "tokens_per_s": steps * batch_tokens / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if args.profile:
        result["parts"] = profile_parts(run, steps, device)
    if device.type == "cuda":
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


# What a step's time goes to, by the operators torch's profiler records (their own time, not their callees').
PARTS = {
    "products (encoder, gradients)": ("aten::mm", "aten::addmm", "aten::bmm"),
    "top-k selection": ("aten::topk",),
    "decoder rows gathered (embedding_bag)": ("aten::embedding_bag", "aten::_embedding_bag"),
    "gradient rows scattered (index_add_, scatter_add_)": ("aten::index_add", "aten::scatter_add"),
    "dense elementwise (bias, ReLU)": ("aten::add", "aten::clamp_min", "aten::relu", "aten::mul", "aten::fill_"),
    "decoder-row normalization": ("aten::linalg_vector_norm", "aten::norm", "aten::div_"),
    "Adam": ("aten::_foreach_", "aten::_fused_adam"),
    "casts (autocast)": ("aten::_to_copy", "aten::copy_", "aten::to"),
}


def profile_parts(run, steps: int, device) -> dict[str, float]:
    """Share of the profiled ``steps`` steps' operator time in each of ``PARTS`` (and ``other``)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        run(steps)
    attribute = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    times = {part: 0.0 for part in [*PARTS, "other"]}
    for event in profiler.key_averages():
        part = next((part for part, names in PARTS.items() if event.key.startswith(names)), "other")
        times[part] += getattr(event, attribute)
    total = sum(times.values()) or 1.0
    return {part: value / total for part, value in times.items()}


def child(trainer: str, shape: str, args) -> dict:
    d_in, d_sae, k = SHAPES[shape]
    command = [sys.executable, __file__, "--child", trainer, "--shape", shape, "--steps", str(args.steps)]
    command += ["--batch", str(args.batch), "--threads", str(args.threads)]
    command += ["--device", args.device, "--dtype", args.dtype] + (["--profile"] if args.profile else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=[*SHAPES, "both"], default="gpt2")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--profile", action="store_true", help="also print each part's share of a step (torch.profiler)"
    )
    parser.add_argument("--trainers", nargs="+", default=TRAINERS, choices=TRAINERS)
    parser.add_argument("--child", choices=TRAINERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        d_in, d_sae, k = SHAPES[args.shape]
        print(json.dumps(measure(args.child, d_in, d_sae, k, args.batch, args.steps, args)))
        return 0
    machine = {"threads": args.threads, "device": args.device, "dtype": args.dtype}
    where = f"{args.threads} threads" if args.device == "cpu" else args.device
    before = matmul_gflops(**machine)
    print(f"matmul rate before: {before:.0f} GFLOP/s ({where}, {args.dtype})")
    for shape in SHAPES if args.shape == "both" else [args.shape]:
        d_in, d_sae, k = SHAPES[shape]
        print(f"\n{shape}: {d_in} -> {d_sae} latents, k = {k}, minibatches of {args.batch}, {args.steps} steps")
        results: dict[str, list[dict]] = {trainer: [] for trainer in args.trainers}
        for _ in range(args.rounds):
            for trainer in args.trainers:
                results[trainer].append(child(trainer, shape, args))
        encoder_flop = 2 * d_in * d_sae
        print(f"  bound (encoder product alone at {before:.0f} GFLOP/s): {before * 1e9 / encoder_flop:.0f} tokens/s")
        peer = statistics.median(run["tokens_per_s"] for run in results.get("saelens", [{"tokens_per_s": 0}]))
        for trainer, runs in results.items():
            rate = statistics.median(run["tokens_per_s"] for run in runs)
            rss = max(run["peak_rss_mb"] for run in runs)
            gpu = f", GPU {max(run['peak_gpu_mb'] for run in runs):.0f} MB" if "peak_gpu_mb" in runs[0] else ""
            ratio = f", {rate / peer:.2f}x saelens" if peer else ""
            each = ", ".join(f"{run['tokens_per_s']:.0f}" for run in runs)
            print(
                f"  {trainer:18s} {rate:8.0f} tokens/s ({each})"
                f"{ratio}; encoder {rate * encoder_flop / 1e9:.0f} GFLOP/s = {rate * encoder_flop / 1e9 / before:.0%}"
                f" of matmul; peak RSS {rss:.0f} MB{gpu}"
            )
            if "parts" in runs[-1]:  # the last round's profile
                shares = sorted(runs[-1]["parts"].items(), key=lambda item: -item[1])
                print("    " + ", ".join(f"{part} {share:.0%}" for part, share in shares if share >= 0.005))
    print(f"\nmatmul rate after: {matmul_gflops(**machine):.0f} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

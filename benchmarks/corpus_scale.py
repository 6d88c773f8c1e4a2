"""Corpus-scale stages at the gpt2 shape: extraction and streaming SAE training, time and peak memory.

For each corpus size (random token ids: cost does not depend on content) it runs, each stage in a
fresh process so that its peak RSS is its own:

- every shard's extraction of one site (one process per shard, as the workflow's jobs), timed
  against a bare forward pass over the same windows in the same process: the whole transformer
  (``base_model``, no LM head) and the transformer up to the site (what extraction runs);
- streaming SAE training (TopK, 8 x width latents) on the store for a fixed token budget:
  tokens/s and matmul FLOP/s against the machine's matmul rate.

It prints one table, side by side per corpus size, with peak RSS per stage and disk per million
tokens, and writes it to ``benchmarks/out/corpus_scale_<device>.json``.

    python benchmarks/corpus_scale.py --tokens 1000000 4000000             # the numbers in benchmarks/README.md
    python benchmarks/corpus_scale.py --tokens 20000 80000 --train-tokens 20000  # a quick check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
OUT = ROOT / "benchmarks" / "out"
CONTEXT = 128
N_SHARDS = 4
VOCAB = 50257


def matmul_rate(device: str) -> float:
    """float32 GFLOP/s of a 4096-cube product on ``device`` (CPU: machine.matmul_gflops)."""
    import torch

    if device == "cpu":
        from machine import matmul_gflops

        return matmul_gflops(torch.get_num_threads())
    a, b = torch.randn(4096, 4096, device=device), torch.randn(4096, 4096, device=device)
    a @ b
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(20):
        a @ b
    torch.cuda.synchronize()
    return 2 * 4096**3 * 20 / (time.perf_counter() - started) / 1e9


def peak_rss_mib() -> float:
    from interpflow.runtime.stage_logging import peak_rss_mib as peak

    return float(peak())


def synchronize(device: str) -> None:
    import torch

    if device != "cpu":
        torch.cuda.synchronize()


def stage_tokens(folder: Path, tokens: int) -> dict:
    """A token table of random ids: ``tokens // CONTEXT`` windows in ``N_SHARDS`` shards."""
    from interpflow.stores.corpus_store import write_windows

    rng = np.random.default_rng(0)
    windows = (rng.integers(0, VOCAB, CONTEXT, dtype=np.int32) for _ in range(tokens // CONTEXT))
    write_windows(windows, N_SHARDS, folder / "tokens.parquet", {"name": "random", "context_size": CONTEXT})
    return {}


def stage_extract(folder: Path, shard: int, site: str, dtype: str, device: str, batch: int, bare_batches: int) -> dict:
    import torch
    from random_models import random_model

    from interpflow.models.hooks import hooked
    from interpflow.models.loading import load_model
    from interpflow.stores.corpus_store import shard_windows
    from interpflow.stores.shard_extraction import StopForward, extract_shard

    model, _ = load_model(random_model("gpt2"), device, n_layer=12)
    path = folder / f"shard-{shard}.safetensors"
    total, blocks = shard_windows(folder / "tokens.parquet", shard, CONTEXT)
    ids = torch.tensor(next(blocks)[:batch], dtype=torch.long, device=device)

    def bare(truncated: bool) -> float:
        """Seconds per token of forward passes without hooks over ``bare_batches`` batches."""

        def stop(value):
            raise StopForward

        with torch.no_grad(), hooked(model, {site: stop} if truncated else {}):
            for repeat in range(bare_batches + 1):
                if repeat == 1:
                    synchronize(device)
                    started = time.perf_counter()
                try:
                    model.base_model(input_ids=ids, use_cache=False)
                except StopForward:
                    pass
            synchronize(device)
        return (time.perf_counter() - started) / (bare_batches * ids.numel())

    result = {"bare_full_s_per_token": bare(False), "bare_to_site_s_per_token": bare(True)}
    started = time.perf_counter()
    windows = extract_shard(
        model, folder / "tokens.parquet", shard, CONTEXT, [site], path, dtype=dtype, batch_size=batch
    )
    synchronize(device)
    result.update(seconds=time.perf_counter() - started, tokens=windows * CONTEXT, bytes=path.stat().st_size)
    return result


def stage_manifest(folder: Path) -> dict:
    from interpflow.stores.corpus_store import write_manifest

    shards = [folder / f"shard-{shard}.safetensors" for shard in range(N_SHARDS)]
    write_manifest(shards, folder / "manifest.json", {"name": "gpt2-random"}, {"name": "random", "prepend_bos": False})
    return {}


def stage_train(folder: Path, site: str, device: str, train_tokens: int) -> dict:
    import torch

    from interpflow.runtime.schema import option_defaults
    from interpflow.sae.core.config import SAEConfig
    from interpflow.sae.core.streaming import StreamingSchedule, train_streaming
    from interpflow.sae.core.training import flops_per_token
    from interpflow.stores.corpus_store import CorpusStore

    store = CorpusStore(folder / "manifest.json")
    width = store.width(site)
    defaults = option_defaults("streaming_sae.sae")  # the workflow's, for what this benchmark leaves out
    sae = {name: defaults[name] for name in ("l1_weight", "decorrelation_weight", "learning_rate", "seed")}
    config = SAEConfig("topk", site, input_dim=width, latent_dim=8 * width, k=32, **sae)
    schedule = StreamingSchedule(
        batch_tokens=4096, buffer_tokens=65536, token_budget=train_tokens, log_every=50, checkpoint_every=10**9
    )
    started = time.perf_counter()
    model, log = train_streaming(store, config, schedule, device)
    synchronize(device)
    seconds = time.perf_counter() - started
    del model, log
    torch.cuda.empty_cache() if device != "cpu" else None
    return {
        "seconds": seconds,
        "tokens": schedule.steps * schedule.batch_tokens,
        "flops_per_token": flops_per_token(config),
    }


def run_stage(args: argparse.Namespace, stage: str, tokens: int, *extra: str) -> dict:
    """Run one stage in a fresh process; its result with the process's peak RSS."""
    command = [
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--tokens",
        str(tokens),
        "--site",
        args.site,
        "--dtype",
        args.dtype,
        "--device",
        args.device,
        "--train-tokens",
        str(args.train_tokens),
        "--threads",
        str(args.threads),
        "--bare-batches",
        str(args.bare_batches),
        *extra,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--site", default="blocks.6.hook_resid_pre")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-tokens", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch, BLAS)")
    parser.add_argument("--bare-batches", type=int, default=8, help="batches of 32 windows timed without hooks")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--shard", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=str(OUT / "corpus_scale"))
    args = parser.parse_args(argv)

    from interpflow.models.devices import resolve_device
    from interpflow.runtime.stage_logging import compute_on_threads

    compute_on_threads(args.threads)
    args.device = str(resolve_device(args.device))
    if args.stage:
        args.tokens = args.tokens[0]
        folder = Path(args.folder) / str(args.tokens)
        folder.mkdir(parents=True, exist_ok=True)
        stages = {
            "tokens": lambda: stage_tokens(folder, args.tokens),
            "extract": lambda: stage_extract(
                folder, args.shard, args.site, args.dtype, args.device, 32, args.bare_batches
            ),
            "manifest": lambda: stage_manifest(folder),
            "train": lambda: stage_train(folder, args.site, args.device, args.train_tokens),
        }
        result = stages[args.stage]()
        print(json.dumps({**result, "peak_rss_mib": peak_rss_mib()}))
        return

    rate_before = matmul_rate(args.device)
    results = {}
    for tokens in args.tokens:
        run_stage(args, "tokens", tokens)
        shards = [run_stage(args, "extract", tokens, "--shard", str(shard)) for shard in range(N_SHARDS)]
        run_stage(args, "manifest", tokens)
        trained = run_stage(args, "train", tokens)
        extracted_tokens = sum(shard["tokens"] for shard in shards)
        extract_s = sum(shard["seconds"] for shard in shards)
        bare_full = np.mean([shard["bare_full_s_per_token"] for shard in shards])
        bare_site = np.mean([shard["bare_to_site_s_per_token"] for shard in shards])
        results[tokens] = {
            "extraction tokens/s": extracted_tokens / extract_s,
            "bare forward (whole transformer) tokens/s": 1 / bare_full,
            "bare forward (up to the site) tokens/s": 1 / bare_site,
            "extraction time / bare whole forward": extract_s / extracted_tokens / bare_full,
            "extraction time / bare forward to the site": extract_s / extracted_tokens / bare_site,
            "extraction peak RSS MiB (largest shard job)": max(shard["peak_rss_mib"] for shard in shards),
            "training tokens/s": trained["tokens"] / trained["seconds"],
            "training GFLOP/s": trained["tokens"] * trained["flops_per_token"] / trained["seconds"] / 1e9,
            "training peak RSS MiB": trained["peak_rss_mib"],
            "disk MB per million tokens": sum(shard["bytes"] for shard in shards) / extracted_tokens,
        }
        for shard in range(N_SHARDS):  # the next size needs the disk
            (Path(args.folder) / str(tokens) / f"shard-{shard}.safetensors").unlink()
    rate_after = matmul_rate(args.device)
    report(args, results, rate_before, rate_after)


def report(args, results: dict, rate_before: float, rate_after: float) -> None:
    sizes = list(results)
    rows = list(results[sizes[0]])
    print(
        f"corpus_scale on {args.device} ({args.threads} CPU threads), site {args.site}, {args.dtype}, "
        f"context {CONTEXT}, {N_SHARDS} shards, SAE 8x width k=32 trained on {args.train_tokens} tokens"
    )
    print(f"matmul float32: {rate_before:.0f} GFLOP/s before, {rate_after:.0f} after")
    print(f"{'':48s}" + "".join(f"{size:>16,d}" for size in sizes) + "   ratio (last/first)")
    for row in rows:
        values = [results[size][row] for size in sizes]
        print(f"{row:48s}" + "".join(f"{value:16.3f}" for value in values) + f"{values[-1] / values[0]:12.2f}")
    training = [results[size]["training GFLOP/s"] for size in sizes]
    print(f"training FLOP rate / matmul rate: {np.mean(training) / np.mean([rate_before, rate_after]):.2f}")
    name = "cpu" if args.device == "cpu" else "cuda"
    summary = {"args": vars(args), "matmul_gflops": [rate_before, rate_after], "results": results}
    (OUT / f"corpus_scale_{name}.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()

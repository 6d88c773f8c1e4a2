"""Peak memory of a text set's extraction against its number of texts, at gpt2-medium's shape.

The workflow's extraction stage writes a text set's store a batch at a time
(:func:`interpflow.stores.extraction.extract_to_files`), so its peak RSS should be set by the model and the
batch, not by texts x sites. This runs it on short sentences with neuron_contrast's layer sweep
(``mlp.hook_pre`` of every block: 24 x 4096 floats per token), each count in a fresh process, and
side by side the in-memory extraction (:func:`interpflow.stores.extraction.extract_activations` then
``save_store``, what the stage did before) on the smaller count: its peak grows with the store.

    python benchmarks/text_set_memory.py                        # 500 and 5000 texts (16 GB of disk)
    python benchmarks/text_set_memory.py --texts 100 1000       # a quick check

The target: the peak at the largest count is within 10% of the peak at the smallest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
SHAPE = "gpt2-medium"
SUBJECTS = ["The teacher", "My neighbour", "A doctor", "The pilot", "Her brother", "The clerk", "Our friend"]
ACTIONS = ["saw him", "thanked her", "called them", "met us", "helped him", "found her", "drove them"]
PLACES = ["at the market.", "after lunch.", "near the station.", "on Monday.", "in the rain.", "by the river."]


def sentences(count: int) -> list[str]:
    """``count`` short sentences (about 8 tokens each), the same for every run."""
    return [
        f"{SUBJECTS[i % len(SUBJECTS)]} {ACTIONS[(i // 7) % len(ACTIONS)]} {PLACES[(i // 49) % len(PLACES)]}"
        for i in range(count)
    ]


def stage(count: int, way: str, threads: int) -> dict:
    """One extraction in this process: ``way`` is ``streamed`` (the stage) or ``in_memory`` (before)."""
    import torch
    from random_models import SHAPES, random_model

    from interpflow.models.loading import load_model
    from interpflow.models.sites import block_site
    from interpflow.runtime.stage_logging import peak_rss_mib
    from interpflow.stores.activation_store import save_store
    from interpflow.stores.extraction import extract_activations, extract_to_files

    torch.set_num_threads(threads)
    n_layer = SHAPES[SHAPE]["n_layer"]
    model, tokenizer = load_model(random_model(SHAPE), "cpu", n_layer=n_layer)
    loaded = peak_rss_mib()
    sites = [block_site(layer, "mlp.hook_pre") for layer in range(n_layer)]
    texts = sentences(count)
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks" / "out") as folder:
        tensors, tokens = Path(folder) / "store.safetensors", Path(folder) / "store.tokens.parquet"
        started = time.perf_counter()
        if way == "streamed":
            n_tokens = extract_to_files(model, tokenizer, texts, sites, tensors, tokens, batch_size=16)
        else:
            store = extract_activations(model, tokenizer, texts, sites, batch_size=16)
            save_store(store, tensors, tokens)
            n_tokens = len(store.tokens)
        seconds = time.perf_counter() - started
        size = tensors.stat().st_size
    return {
        "texts": count,
        "way": way,
        "tokens": n_tokens,
        "seconds": seconds,
        "store_mib": size / 2**20,
        "model_loaded_mib": loaded,
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stage", choices=["streamed", "in_memory"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(stage(args.texts[0], args.stage, args.threads)))
        return

    from machine import matmul_gflops
    from random_models import random_model

    (ROOT / "benchmarks" / "out").mkdir(parents=True, exist_ok=True)
    random_model(SHAPE)  # built once, outside the measured processes
    before = matmul_gflops(args.threads)
    runs = [("in_memory", min(args.texts))] + [("streamed", count) for count in sorted(args.texts)]
    results = []
    for way, count in runs:
        command = [sys.executable, __file__, "--stage", way, "--texts", str(count), "--threads", str(args.threads)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    after = matmul_gflops(args.threads)

    print(
        f"{SHAPE} (random weights), mlp.hook_pre of all 24 blocks, batch 16, "
        f"{args.threads} threads; matmul {before:.0f} GFLOP/s before, {after:.0f} after"
    )
    print(f"{'way':>10} {'texts':>6} {'tokens':>7} {'store MiB':>10} {'model MiB':>10} {'peak RSS MiB':>13} {'s':>7}")
    for result in results:
        print(
            f"{result['way']:>10} {result['texts']:>6} {result['tokens']:>7} {result['store_mib']:>10.0f} "
            f"{result['model_loaded_mib']:>10.0f} {result['peak_rss_mib']:>13.0f} {result['seconds']:>7.1f}"
        )
    streamed = [result for result in results if result["way"] == "streamed"]
    ratio = streamed[-1]["peak_rss_mib"] / streamed[0]["peak_rss_mib"]
    in_memory = results[0]["peak_rss_mib"] / streamed[0]["peak_rss_mib"]
    print(
        f"peak RSS, {streamed[-1]['texts']} texts / {streamed[0]['texts']} texts (streamed): {ratio:.3f} "
        f"(target <= 1.10); in memory / streamed at {streamed[0]['texts']} texts: {in_memory:.2f}"
    )
    out = ROOT / "benchmarks" / "out" / "text_set_memory.json"
    out.write_text(json.dumps({"matmul_gflops": [before, after], "runs": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

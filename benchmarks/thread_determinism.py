"""Do multi-threaded extractions give the same bits in every fresh process? And which setting makes them?

Each trial is a fresh Python process that does what the extraction stage does (load the model, one
batched forward pass over the pronoun sentences, every block's residual, attention, MLP and MLP
neuron sites kept) on ``--threads`` threads (:func:`interpflow.runtime.stage_logging.compute_on_threads`),
and prints a SHA-256 of every (site, batch) slice of the store. Conditions alternate trial by trial,
so they meet the same machine; beside every trial runs a load (another process doing one-thread
float32 products nonstop, as another workflow job would), unless ``--no-load``.

Conditions (environment each trial starts with; the workflow's jobs start with ``MKL_CBWR=AUTO``):

- ``workflow``: ``MKL_CBWR=AUTO``, what the workflow's model stages run with today;
- ``mkl_dynamic_off``: ``MKL_CBWR=AUTO MKL_DYNAMIC=FALSE``, MKL never uses fewer threads than asked;
- ``omp_dynamic_off``: ``MKL_CBWR=AUTO OMP_DYNAMIC=FALSE``;
- ``cbwr_strict``: ``MKL_CBWR=AUTO,STRICT``, MKL's strict reproducibility (gemm's bits independent of
  the thread count);
- ``one_thread``: ``MKL_CBWR=AUTO`` on 1 thread, the control.

Intel's reproducibility conditions (oneMKL developer guide, "Reproducibility Conditions") ask for a
fixed thread count with MKL_DYNAMIC and OMP_DYNAMIC false; strict mode drops the thread-count condition
for gemm.

Run:  .venv/bin/python benchmarks/thread_determinism.py [--trials 100] [--conditions workflow,mkl_dynamic_off]
Prints per condition how many trials gave the condition's most common store, which (site, batch)
slices differed, and whether the most common store equals the one-thread one; writes
benchmarks/out/thread_determinism.json. Exits non-zero when any condition's trials disagree.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import matmul_gflops  # noqa: E402
from random_models import CACHE, ROOT  # noqa: E402

CONDITIONS = {
    "workflow": ({"MKL_CBWR": "AUTO"}, None),
    "mkl_dynamic_off": ({"MKL_CBWR": "AUTO", "MKL_DYNAMIC": "FALSE"}, None),
    "omp_dynamic_off": ({"MKL_CBWR": "AUTO", "OMP_DYNAMIC": "FALSE"}, None),
    "cbwr_strict": ({"MKL_CBWR": "AUTO,STRICT"}, None),
    "one_thread": ({"MKL_CBWR": "AUTO"}, 1),
}
SUSPECTS = ("MKL_CBWR", "MKL_DYNAMIC", "OMP_DYNAMIC", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
TEXTS = ROOT / "resources" / "texts" / "pronoun_sentences.tsv"
EMBEDDED = {"n_layer": 12, "n_embd": 128, "n_head": 4, "n_positions": 1024, "seed": 20251123}  # config.yaml's
BATCH_SIZE = 16  # config.yaml's extraction.batch_size
OUT = ROOT / "benchmarks" / "out" / "thread_determinism.json"


def embedded_model() -> Path:
    """The workflow's embedded model (config.yaml's spec), built once into the benchmark cache."""
    from interpflow.models.loading import build_embedded_model

    folder = CACHE / "embedded"
    if not (folder / "model.safetensors").is_file():
        build_embedded_model(EMBEDDED, ROOT / "resources" / "gpt2-tokenizer", folder)
    return folder


def trial(model_dir: str, threads: int) -> dict[str, str]:
    """One extraction as the stage does it; SHA-256 of each ``site@batch`` slice, in batch order."""
    import torch

    from interpflow.models.loading import load_model
    from interpflow.runtime.stage_logging import compute_on_threads
    from interpflow.stores.extraction import _batches
    from interpflow.stores.texts import read_text_set

    compute_on_threads(threads)
    model, tokenizer = load_model(model_dir, "cpu")
    n_layer = model.config.n_layer
    sites = [
        f"blocks.{layer}.{name}"
        for layer in range(n_layer)
        for name in ("hook_resid_pre", "hook_attn_out", "mlp.hook_post", "hook_mlp_out")
    ]
    texts = read_text_set(TEXTS, "sentence").texts
    digests = {}
    with torch.no_grad():
        for batch, rows in enumerate(_batches(model, tokenizer, texts, sites, BATCH_SIZE)):
            for site in sites:
                digests[f"{site}@{batch}"] = hashlib.sha256(rows[site].tobytes()).hexdigest()[:16]
    return digests


def load_process() -> subprocess.Popen:
    """Another job beside the trial: one-thread float32 products until killed."""
    code = "import torch\ntorch.set_num_threads(1)\na = torch.randn(1024, 1024)\nwhile True:\n    b = a @ a\n"
    return subprocess.Popen([sys.executable, "-c", code])


def run_trial(model_dir: Path, condition: str, threads: int) -> dict[str, str]:
    overrides, condition_threads = CONDITIONS[condition]
    env = {name: value for name, value in os.environ.items() if name not in SUSPECTS}
    env.update(overrides)
    command = [sys.executable, __file__, "--child", str(model_dir), "--threads", str(condition_threads or threads)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarize(results: dict[str, list[dict[str, str]]]) -> dict[str, dict]:
    """Per condition: trials, how many gave the most common store, the slices that ever differed."""
    summary = {}
    for condition, stores in results.items():
        keys = [tuple(sorted(store.items())) for store in stores]
        common, count = collections.Counter(keys).most_common(1)[0]
        common = dict(common)
        differing = sorted({key for store in stores for key in store if store[key] != common[key]})
        summary[condition] = {"trials": len(stores), "same_as_most_common": count, "differing_slices": differing}
    reference = results.get("one_thread")
    if reference:
        one = collections.Counter(tuple(sorted(s.items())) for s in reference).most_common(1)[0][0]
        for condition, stores in results.items():
            common = collections.Counter(tuple(sorted(s.items())) for s in stores).most_common(1)[0][0]
            summary[condition]["most_common_equals_one_thread"] = common == one
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100, help="fresh processes per condition")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--conditions", default=",".join(CONDITIONS), help="comma-separated, from: " + ", ".join(CONDITIONS)
    )
    parser.add_argument("--no-load", action="store_true", help="no load process beside the trials")
    parser.add_argument("--child", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(trial(args.child, args.threads)))
        return 0
    conditions = args.conditions.split(",")
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown:
        parser.error(f"--conditions: unknown {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}")
    model_dir = embedded_model()
    print(f"matmul before: {matmul_gflops(args.threads):.0f} GFLOP/s on {args.threads} threads", flush=True)
    load = None if args.no_load else load_process()
    results: dict[str, list[dict[str, str]]] = {condition: [] for condition in conditions}
    started = time.perf_counter()
    try:
        for number in range(args.trials):
            for condition in conditions:
                results[condition].append(run_trial(model_dir, condition, args.threads))
            if (number + 1) % 10 == 0:
                counts = {c: summarize({c: r})[c]["same_as_most_common"] for c, r in results.items()}
                print(
                    f"{number + 1} trials each, {time.perf_counter() - started:.0f} s: same as most common {counts}",
                    flush=True,
                )
    finally:
        if load is not None:
            load.kill()
            load.wait()
    print(f"matmul after: {matmul_gflops(args.threads):.0f} GFLOP/s on {args.threads} threads")
    summary = summarize(results)
    print(f"\n{'condition':<18}{'trials':>8}{'same':>6}  differing slices")
    for condition, row in summary.items():
        slices = ", ".join(row["differing_slices"][:6]) + (" ..." if len(row["differing_slices"]) > 6 else "")
        print(f"{condition:<18}{row['trials']:>8}{row['same_as_most_common']:>6}  {slices or '-'}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"threads": args.threads, "load": not args.no_load, "summary": summary}, indent=1))
    return int(any(row["same_as_most_common"] < row["trials"] for row in summary.values()))


if __name__ == "__main__":
    sys.exit(main())

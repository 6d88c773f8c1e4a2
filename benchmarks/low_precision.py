"""bfloat16 against float32 where compute dominates: corpus shard extraction and the gpt2-xl interventions.

Three measurements on random-weight models of real shapes (``benchmarks/random_models.py``), each dtype in
its own process (so each peak RSS is its own), both in one run, with the machine printed first (CPU, the
flags that decide half-precision speed, oneDNN's bfloat16 support, matmul rate in both dtypes):

- extraction: one corpus shard of ``--tokens`` tokens (random ids, 128-token windows) through
  ``extract_shard`` at gpt2-medium shape, the sites of the middle and last block's residual stream; the
  activations of bfloat16 against float32's (relative Frobenius error per site);
- interventions: the cached subspace-removal sweep over all 48 layers of gpt2-xl shape on a text of
  ``--text-tokens`` tokens (the Ravel text repeated), the way its stage runs it; the tables' errors;
- memory: peak RSS of a gpt2-xl model stage (load, extract ``--memory-tokens`` tokens), float32 from its
  folder against bfloat16 stored once by ``store_model_in_dtype`` (what ``models.<name>.dtype`` runs) and
  bfloat16 cast while loading the float32 file (what it ran before the weights were stored in their dtype).

Goals (issue "Low precision that pays"): bfloat16 ≥ 2.5x float32 in both speed measurements, peak RSS
≤ 0.6x, results within ``TOLERANCE``. They need bfloat16 matrix instructions: a GPU (``--device cuda``) or a
CPU with AMX or AVX512-BF16. Without them torch falls back to products hundreds of times slower than
float32's, so shrink the sizes (``--tokens 512 --text-tokens 16 --memory-tokens 8``) to see that in minutes.

Run:  .venv/bin/python benchmarks/low_precision.py [--tokens 65536] [--text-tokens 1024] [--only extraction]
Writes benchmarks/out/low_precision.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_facts  # noqa: E402
from random_models import ROOT, random_model  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "low_precision"
DTYPES = ("float32", "bfloat16")
CONTEXT_SIZE = 128
# bfloat16's documented tolerance for activations (tests/unit/test_model_dtype.py): relative Frobenius error
TOLERANCE = 3e-2
GOALS = {"extraction": 2.5, "interventions": 2.5}  # bfloat16 speed-up over float32
PEAK_GOAL = 0.6  # bfloat16-stored peak RSS over float32's


def model_folder(shape: str, dtype: str) -> Path:
    """The random model of ``shape`` as the workflow loads it in ``dtype``: float32 from its own folder,
    other dtypes from a copy stored once in that dtype."""
    from interpflow.models.loading import store_model_in_dtype

    source = random_model(shape)
    if dtype == "float32":
        return source
    stored = source.parent / f"{source.name}-{dtype}"
    if not (stored / "config.json").is_file():
        store_model_in_dtype(source, stored, dtype)
    return stored


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def extraction(dtype: str, args) -> dict:
    """Child: one shard of random windows through ``extract_shard``; its activations saved for the comparison."""
    from interpflow.models.loading import load_model
    from interpflow.stores.corpus_store import write_windows
    from interpflow.stores.shard_extraction import extract_shard

    tokens = OUT / f"tokens-{args.tokens}.parquet"
    if not tokens.is_file():
        generator = np.random.default_rng(0)
        windows = generator.integers(0, 50257, size=(args.tokens // CONTEXT_SIZE, CONTEXT_SIZE), dtype=np.int32)
        write_windows(iter(windows), 1, tokens, {"benchmark": "low_precision", "seed": 0})
    model, _ = load_model(model_folder("gpt2-medium", dtype), args.device, dtype=dtype)
    n_layer = model.config.n_layer
    sites = [f"blocks.{n_layer // 2}.hook_resid_post", f"blocks.{n_layer - 1}.hook_resid_post"]
    started = time.perf_counter()
    windows = extract_shard(
        model, tokens, 0, CONTEXT_SIZE, sites, OUT / f"shard-{dtype}.safetensors", batch_size=args.batch_windows
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "tokens": windows * CONTEXT_SIZE, "tokens_per_s": windows * CONTEXT_SIZE / seconds}


def long_text(tokenizer, n_tokens: int) -> str:
    """The Ravel text repeated until it is ``n_tokens`` tokens long (cut there)."""
    from interpflow.stores.texts import read_text_set

    text = " ".join(read_text_set(ROOT / "resources" / "texts" / "ravel.txt").texts)
    ids = tokenizer(text)["input_ids"]
    ids = (ids * (n_tokens // len(ids) + 1))[:n_tokens]
    return tokenizer.decode(ids)


def interventions(dtype: str, args) -> dict:
    """Child: the cached sweep over every layer of gpt2-xl shape, as the subspace_removal stage runs it."""
    from interpflow.methods.subspace_removal.analysis import hidden_state_impact_table, logit_impact_table
    from interpflow.methods.subspace_removal.interventions import sweep_from_cache
    from interpflow.methods.subspace_removal.method import METHOD
    from interpflow.models.loading import load_model
    from interpflow.stores.extraction import extract_activations

    model, tokenizer = load_model(model_folder("gpt2-xl", dtype), args.device, dtype=dtype)
    n_layer = model.config.n_layer
    instance = {"inspection_layer": 0, "intervention_layer": "middle", "sweep": True, "neuron_site": "mlp.hook_pre"}
    started = time.perf_counter()
    store = extract_activations(
        model, tokenizer, [long_text(tokenizer, args.text_tokens)], METHOD.required_sites(instance, n_layer)
    )
    runs = sweep_from_cache(model, store, list(range(n_layer)), 1)
    seconds = time.perf_counter() - started
    logit_impact_table(runs, store.tokens).to_parquet(OUT / f"interventions-logit-{dtype}.parquet")
    hidden_state_impact_table(runs).to_parquet(OUT / f"interventions-hidden-{dtype}.parquet")
    return {"seconds": seconds, "tokens": len(store.tokens)}


def memory(dtype: str, args) -> dict:
    """Child: a gpt2-xl model stage's peak RSS: load (``bfloat16-cast``: cast from the float32 file), extract."""
    from interpflow.models.loading import load_model
    from interpflow.stores.extraction import extract_activations

    cast_at_load = dtype == "bfloat16-cast"
    dtype = "bfloat16" if cast_at_load else dtype
    folder = random_model("gpt2-xl") if cast_at_load else model_folder("gpt2-xl", dtype)
    started = time.perf_counter()
    model, tokenizer = load_model(folder, args.device, dtype=dtype)
    sites = [f"blocks.{layer}.hook_resid_pre" for layer in range(model.config.n_layer)]
    extract_activations(model, tokenizer, [long_text(tokenizer, args.memory_tokens)], sites)
    return {"seconds": time.perf_counter() - started}


CHILDREN = {"extraction": extraction, "interventions": interventions, "memory": memory}
SHAPE_OF = {"extraction": "gpt2-medium", "interventions": "gpt2-xl", "memory": "gpt2-xl"}


def relative_error(found: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(found - reference) / np.linalg.norm(reference))


def extraction_errors() -> dict[str, float]:
    from safetensors.numpy import load_file

    found, reference = (load_file(OUT / f"shard-{dtype}.safetensors") for dtype in ("bfloat16", "float32"))
    return {site: relative_error(found[site], reference[site]) for site in reference if site != "token_ids"}


def intervention_errors() -> dict[str, float]:
    import pandas as pd

    errors = {}
    for table, column in (("logit", "delta_logprob"), ("hidden", "diff_norm")):
        found, reference = (
            pd.read_parquet(OUT / f"interventions-{table}-{dtype}.parquet")[column].to_numpy()
            for dtype in ("bfloat16", "float32")
        )
        errors[column] = relative_error(found, reference)
    return errors


def run_child(part: str, dtype: str, argv: list[str]) -> dict:
    command = [sys.executable, __file__, *argv, "--child", part, "--child-dtype", dtype]
    line = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=65536, help="extraction: tokens in the shard")
    parser.add_argument("--batch-windows", type=int, default=16, help="extraction: windows per forward pass")
    parser.add_argument("--text-tokens", type=int, default=1024, help="interventions: tokens of the text")
    parser.add_argument("--memory-tokens", type=int, default=68, help="memory: tokens the stage extracts")
    parser.add_argument("--only", choices=list(CHILDREN), action="append", help="run these parts only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--child-dtype", help=argparse.SUPPRESS)
    args, argv = parser.parse_args(), [argument for argument in sys.argv[1:]]
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        result = CHILDREN[args.child](args.child_dtype, args)
        print(json.dumps({**result, "peak_rss_mib": peak_rss_mib()}))
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    facts = machine_facts(args.threads, args.device)
    print(f"machine: {describe(facts)}")
    summary = {"machine_before": facts, "arguments": vars(args)}
    for part in args.only or list(CHILDREN):
        for dtype in DTYPES:  # provisioned here, so that no child's peak includes storing the weights
            model_folder(SHAPE_OF[part], dtype)
        dtypes = (*DTYPES, "bfloat16-cast") if part == "memory" else DTYPES
        runs = {dtype: run_child(part, dtype, argv) for dtype in dtypes}
        summary[part] = runs
        for dtype, run in runs.items():
            print(f"{part:>13} {dtype:<13} {run['seconds']:9.1f} s   peak RSS {run['peak_rss_mib']:7.0f} MiB")
        if part == "memory":
            for dtype in dtypes[1:]:
                ratio = runs[dtype]["peak_rss_mib"] / runs["float32"]["peak_rss_mib"]
                goal = f"   (goal <= {PEAK_GOAL}x)" if dtype == "bfloat16" else ""
                print(f"{'':>13} peak RSS {dtype} / float32: {ratio:.2f}x{goal}")
            continue
        speedup = runs["float32"]["seconds"] / runs["bfloat16"]["seconds"]
        errors = extraction_errors() if part == "extraction" else intervention_errors()
        summary[part].update(speedup=speedup, relative_errors=errors)
        print(f"{'':>13} bfloat16 speed-up: {speedup:.2f}x   (goal >= {GOALS[part]}x)")
        for name, error in errors.items():
            verdict = "within" if error < TOLERANCE else "OUTSIDE"
            print(f"{'':>13} {name}: relative error {error:.2e} ({verdict} the tolerance {TOLERANCE:.0e})")
    after = machine_facts(args.threads, args.device)
    summary["machine_after"] = after
    print(f"machine: {describe(after)}")
    (OUT.parent / "low_precision.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

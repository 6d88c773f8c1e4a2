"""Benchmark: repeated_token_mi statistics at gpt2-xl shape (both estimators, all pairs, layers, sublayers).

The statistics read cached activations only; this extracts them once from a random-weight
gpt2-xl-shaped model (built on first use, see random_models.py), then times the MI stage alone.

Run:  .venv/bin/python benchmarks/repeated_token_mi.py [--shape gpt2-xl] [--threads 2]
Target: within 120 s on 2 cores. Writes benchmarks/out/repeated_token_mi.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_models import ROOT, random_model  # noqa: E402

from interpflow.methods.repeated_token_mi import analysis as repeated_token_mi  # noqa: E402
from interpflow.methods.repeated_token_mi.method import METHOD  # noqa: E402
from interpflow.models.loading import load_model  # noqa: E402
from interpflow.runtime.schema import option_defaults  # noqa: E402
from interpflow.stores.extraction import extract_activations  # noqa: E402
from interpflow.stores.texts import read_text_set  # noqa: E402

# The lecture's coffee instance; every other option at the schema's default, as a workflow run takes it.
DEFAULTS = option_defaults("repeated_token_mi")
SECTION = {**DEFAULTS, "knn": option_defaults("repeated_token_mi.knn"), "text": "coffee", "target": " coffee"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="gpt2-xl")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_model(random_model(args.shape), "cpu")
    n_layer = model.config.n_layer
    texts = read_text_set(ROOT / "resources" / "texts" / "coffee.txt")
    store = extract_activations(model, tokenizer, texts, METHOD.required_sites(SECTION, n_layer))
    del model
    positions = repeated_token_mi.find_targets(store, SECTION["target"])
    started = time.perf_counter()
    pairs = repeated_token_mi.pairwise_mi_table(store, positions, n_layer, SECTION, threads=args.threads)
    summary = repeated_token_mi.layer_summary(pairs)
    repeated_token_mi.sublayer_tests(pairs, summary, alpha=0.05)
    seconds = time.perf_counter() - started
    result = {
        "shape": args.shape,
        "threads": args.threads,
        "targets": len(positions),
        "mi_values": len(pairs),
        "seconds": seconds,
        "target_seconds": 120,
    }
    (ROOT / "benchmarks" / "out").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "out" / "repeated_token_mi.json").write_text(json.dumps(result, indent=2))
    print(
        f"{args.shape}: {len(positions)} targets, {len(pairs)} MI values (2 estimators x 2 sublayers x "
        f"{n_layer} layers x pairs) in {seconds:.1f} s on {args.threads} threads (target <= 120 s)"
    )


if __name__ == "__main__":
    main()

"""Benchmark: what finding damaged results costs (interpflow.runtime.output_records).

Three costs, each timed here:

- **at start-up**, every run: one stat per recorded file (the full hash only where a file's modification
  time changed): on a finished run's results (``--workdir``, e.g. a folder where ``make demo`` ran) and on a
  corpus store of ``--store-gb`` GB in shards of 256 MB, written here;
- **when written**: the hash a stage adds to each output it writes, per GB;
- **a full check** (``verify``, or every file's time changed): every file hashed.

Run:  .venv/bin/python benchmarks/damage_check.py --workdir /path/to/demo/run [--store-gb 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from interpflow.runtime import output_records
from interpflow.runtime.atomic_io import record_written

SHARD_BYTES = 256 << 20


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


def workdir_costs(workdir: Path) -> None:
    count = len(output_records.records(workdir))
    size = sum(path.stat().st_size for path in (workdir / "results").rglob("*") if path.is_file()) + sum(
        path.stat().st_size for path in (workdir / "models").rglob("*") if path.is_file()
    )
    damaged, cheap = timed(output_records.damaged_outputs, workdir)
    _, full = timed(output_records.damaged_outputs, workdir, full=True)
    print(
        f"{workdir}: {count} recorded outputs, {size / 1e6:.1f} MB; start-up check {cheap * 1e3:.1f} ms, "
        f"full hash {full:.2f} s; damaged: {len(damaged)}"
    )


def store_costs(gigabytes: float) -> None:
    block = os.urandom(16 << 20)
    with tempfile.TemporaryDirectory(dir=".") as folder:
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            shards = max(1, int(gigabytes * (1 << 30) / SHARD_BYTES))
            recording = 0.0
            output_records.start_recording("benchmark")
            for shard in range(shards):
                path = Path("results/activations/m/corpus") / f"shard-{shard}.safetensors"
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as handle:
                    for _ in range(SHARD_BYTES // len(block)):
                        handle.write(block)
                _, seconds = timed(record_written, path)
                recording += seconds
            total_gb = shards * SHARD_BYTES / (1 << 30)
            _, cheap = timed(output_records.damaged_outputs, ".")
            _, full = timed(output_records.damaged_outputs, ".", full=True)
        finally:
            os.chdir(cwd)
    print(
        f"store of {total_gb:.1f} GiB in {shards} shards: start-up check {cheap * 1e3:.1f} ms; "
        f"recording when written {recording:.1f} s ({recording / total_gb:.2f} s/GiB); full hash {full:.1f} s "
        f"({total_gb / full:.2f} GiB/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="a folder where the workflow ran (make demo)")
    parser.add_argument("--store-gb", type=float, default=10.0)
    args = parser.parse_args()
    if args.workdir:
        workdir_costs(args.workdir.resolve())
    store_costs(args.store_gb)


if __name__ == "__main__":
    main()

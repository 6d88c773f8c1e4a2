#!/usr/bin/env python3
"""Compare the results of two runs of the workflow: every Parquet table and safetensors file.

Used to show that a refactor keeps the numbers: run the previous commit and the new one on the
same config (e.g. the embedded overlay), then

    python tools/compare_results.py OLD/results NEW/results \
        --map hooks_vs_hidden/embedded=residual_decomposition/plants/embedded

``--map OLD_PREFIX=NEW_PREFIX`` (repeatable) says where a folder of the old layout lives in the new
one. Every file of the old run must exist in the new one and agree within ``--atol`` (default
1e-7): tables value by value, safetensors files tensor by tensor (the new file may hold more
tensors); files only the new run has are counted, not compared. Exit status 1 on any difference.

``--rename-tensor OLD=NEW`` (repeatable) reads a tensor of the old run under a new name, e.g.
``--rename-tensor ln_final.hook_normalized=ln_final.output`` for runs from before the final norm's
output got a name of its own (``ln_final.hook_normalized`` now means what TransformerLens means).

``--rename-column [FILE_GLOB:]OLD=NEW[*SCALE|+OFFSET]`` (repeatable) compares a table column of the
old run with a renamed one of the new run, optionally rescaled: ``density_pct=density*100`` reads
the new ``density`` times 100 where the old table had ``density_pct``; ``epoch=step+-1`` reads
``step - 1`` for ``epoch``. ``FILE_GLOB`` limits a rename to the tables whose path matches it
(e.g. ``sparse_autoencoder/*``). Columns only the new table has are not compared.

``--legacy-sites N_LAYER`` reads the tensors of an old run named with the GPT-2 module names of
before the TransformerLens vocabulary (``hidden_states.<i>``, ``h.<L>.attn.c_proj``,
``h.<L>.mlp.c_fc``, ``h.<L>.mlp.c_proj``) under their new names, for models of ``N_LAYER`` blocks.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file


def new_path(relative: str, mapping: list[tuple[str, str]]) -> str:
    for old, new in mapping:
        if relative == old or relative.startswith(old.rstrip("/") + "/"):
            return new.rstrip("/") + relative[len(old.rstrip("/")) :]
    return relative


LEGACY_HOOKS = {"attn.c_proj": "hook_attn_out", "mlp.c_fc": "mlp.hook_pre", "mlp.c_proj": "hook_mlp_out"}


def legacy_site_name(name: str, n_layer: int) -> str:
    """The TransformerLens name of a site named the old way; other names unchanged."""
    if match := re.fullmatch(r"hidden_states\.(\d+)", name):
        index = int(match.group(1))
        return "ln_final.hook_normalized" if index == n_layer else f"blocks.{index}.hook_resid_pre"
    if match := re.fullmatch(r"h\.(\d+)\.(attn\.c_proj|mlp\.c_fc|mlp\.c_proj)", name):
        return f"blocks.{match.group(1)}.{LEGACY_HOOKS[match.group(2)]}"
    return name


def parse_column_rename(text: str) -> tuple[str, str, str, str, float]:
    """``[FILE_GLOB:]OLD=NEW[*SCALE|+OFFSET]`` -> ``(glob, old, new, operation, number)``."""
    glob, _, rename = text.rpartition(":")
    old, new = rename.split("=", 1)
    if match := re.fullmatch(r"(.+?)([*+])(-?[\d.eE+-]+)", new):
        number = float(match.group(3))
        return glob or "*", old, match.group(1), match.group(2), int(number) if number.is_integer() else number
    return glob or "*", old, new, "*", 1


def new_table_as_old(new_table: pd.DataFrame, relative: str, column_renames: list) -> pd.DataFrame:
    """The new table with the renamed columns given their old names and values."""
    table = new_table.copy()
    for glob, old, new, operation, number in column_renames:
        if fnmatch.fnmatch(relative, glob) and new in table:
            values = table.pop(new)
            table[old] = values * number if operation == "*" else values + number
    return table


def compare(
    old: Path,
    new: Path,
    atol: float,
    legacy_n_layer: int | None = None,
    renames: dict[str, str] | None = None,
    column_renames: list | None = None,
    relative: str = "",
) -> str | None:
    """A description of the first difference, or None when the files agree."""
    if old.suffix == ".parquet":
        before = pd.read_parquet(old)
        after = new_table_as_old(pd.read_parquet(new), relative, column_renames or [])
        if missing := [column for column in before if column not in after]:
            return f"columns missing in the new table: {missing}"
        try:
            pd.testing.assert_frame_equal(
                before, after[list(before.columns)], atol=atol, rtol=0, check_exact=False, check_dtype=False
            )
        except AssertionError as error:
            return str(error).splitlines()[0]
        return None
    before, after = load_file(old), load_file(new)
    if legacy_n_layer is not None:
        before = {legacy_site_name(name, legacy_n_layer): tensor for name, tensor in before.items()}
    before = {(renames or {}).get(name, name): tensor for name, tensor in before.items()}
    if set(before) - set(after):  # more tensors in the new file are fine: a store shared by more instances
        return f"tensors missing in the new file: {sorted(set(before) - set(after))}"
    for name in before:
        if before[name].shape != after[name].shape or not np.allclose(before[name], after[name], atol=atol, rtol=0):
            return f"tensor {name!r} differs (max |diff| {np.max(np.abs(before[name] - after[name])):.3g})"
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--map", action="append", default=[], metavar="OLD=NEW")
    parser.add_argument("--atol", type=float, default=1e-7)
    parser.add_argument("--rename-tensor", action="append", default=[], metavar="OLD=NEW")
    parser.add_argument("--rename-column", action="append", default=[], metavar="[GLOB:]OLD=NEW[*SCALE|+OFFSET]")
    parser.add_argument("--legacy-sites", type=int, metavar="N_LAYER")
    args = parser.parse_args(argv)
    mapping = [tuple(item.split("=", 1)) for item in args.map]
    renames = dict(item.split("=", 1) for item in args.rename_tensor)
    column_renames = [parse_column_rename(item) for item in args.rename_column]
    files = sorted(p for p in args.old.rglob("*") if p.suffix in (".parquet", ".safetensors"))
    seen, failures = set(), 0
    for old in files:
        relative = new_path(old.relative_to(args.old).as_posix(), mapping)
        seen.add(relative)
        new = args.new / relative
        problem = (
            "missing in the new run"
            if not new.exists()
            else compare(old, new, args.atol, args.legacy_sites, renames, column_renames, relative)
        )
        failures += problem is not None
        verdict = f"DIFFERS: {problem}" if problem else "same"
        print(f"{old.relative_to(args.old)} -> {relative}: {verdict}")
    extra = sorted(
        p.relative_to(args.new).as_posix()
        for p in args.new.rglob("*")
        if p.suffix in (".parquet", ".safetensors") and p.relative_to(args.new).as_posix() not in seen
    )
    agree = len(files) - failures
    print(f"{agree} of {len(files)} files agree within {args.atol:g}; {len(extra)} files only in the new run")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

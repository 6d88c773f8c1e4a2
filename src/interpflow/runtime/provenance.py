"""Provenance: what made a result, stored in the result itself, and a check against what is at hand.

Every Parquet table (schema metadata) and safetensors file (its metadata) a stage writes carries,
under the key ``interpflow.provenance``, one JSON record:

- ``interpflow``: the project version and git commit, with ``dirty`` when the working tree had
  uncommitted changes (read once by the Snakefile, handed to jobs in the environment);
- ``packages``: the versions of torch, transformers, numpy, scipy, scikit-learn, statsmodels, pandas;
- ``model``: the identity of the stage's model (name, source, hub id, revision, commit and the
  sha256 of its weights), for stages that belong to one model;
- ``stage``: the rule, its wildcards and its parameters;
- ``inputs``: the sha256 of every data input (a model folder by its weights hash; the code is
  identified by the commit).

Nothing in it varies between identical runs (no time stamps, no host names), so identical runs
still give byte-identical files. Read it with ``python -m interpflow.runtime.provenance FILE``; compare a
whole results folder with the environment and the model folders at hand with
``python -m interpflow.runtime.provenance verify results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

KEY = "interpflow.provenance"
PACKAGES = ("torch", "transformers", "numpy", "scipy", "scikit-learn", "statsmodels", "pandas")
GIT_COMMIT_VARIABLE, GIT_DIRTY_VARIABLE = "INTERPFLOW_GIT_COMMIT", "INTERPFLOW_GIT_DIRTY"


def package_versions() -> dict[str, str | None]:
    """Installed versions of :data:`PACKAGES` (``None`` for one that is not installed)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(folder: str | Path) -> dict[str, Any]:
    """``commit`` and ``dirty`` of the git checkout at ``folder`` (``commit: None`` outside one)."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def export_git_state(folder: str | Path) -> None:
    """Hand the checkout's commit and dirty flag to the jobs (environment variables), once per run.

    Jobs (cluster jobs too, which read the Snakefile again where git may be missing) keep the values
    the submitting snakemake set.
    """
    if GIT_COMMIT_VARIABLE in os.environ:
        return
    state = git_state(folder)
    os.environ[GIT_COMMIT_VARIABLE] = state["commit"] or ""
    os.environ[GIT_DIRTY_VARIABLE] = "" if state["dirty"] is None else str(int(state["dirty"]))


def project_identity() -> dict[str, Any]:
    from interpflow import __version__

    commit = os.environ.get(GIT_COMMIT_VARIABLE) or None
    dirty = os.environ.get(GIT_DIRTY_VARIABLE)
    return {"version": __version__, "commit": commit, "dirty": None if dirty in (None, "") else dirty == "1"}


def model_identity(name: str, folder: str | Path) -> dict[str, Any]:
    """A model's identity from its folder's record (see :func:`interpflow.models.loading.read_model_record`)."""
    from interpflow.runtime.model_records import read_model_record

    record = read_model_record(folder)
    keep = ("source", "hub_id", "revision", "commit", "weights_sha256", "dtype", "stored_from")
    return {"name": name, "folder": str(folder), **{key: record[key] for key in keep if key in record}}


def input_hashes(paths: list[str]) -> dict[str, str]:
    """``path -> sha256`` of input files; a folder (a model) by its weights hash."""
    from interpflow.runtime.model_records import read_model_record, sha256_of_file

    return {
        path: read_model_record(path)["weights_sha256"] if Path(path).is_dir() else sha256_of_file(path)
        for path in sorted(set(paths))
    }


def _plain(value):
    """``value`` as JSON-friendly builtins (Snakemake's params and wildcards are dict and list subclasses)."""
    return json.loads(json.dumps(value, default=str))


def stage_record(snakemake) -> dict[str, Any]:
    """The provenance record of the running stage (``snakemake``: the object a script directive gets)."""
    code = {str(path) for path in _as_list(getattr(snakemake.input, "code", []))}
    data = [str(path) for path in snakemake.input if str(path) not in code]
    record = {
        "interpflow": project_identity(),
        "packages": package_versions(),
        "stage": {
            "rule": snakemake.rule,
            "wildcards": dict(snakemake.wildcards.items()),
            "params": _plain(dict(snakemake.params.items())),
        },
        "inputs": input_hashes(data),
    }
    from interpflow.runtime.model_records import model_folder

    model = getattr(snakemake.wildcards, "model", None)
    if model and model_folder(snakemake.config, model).is_dir():  # (not while the model is being made)
        record["model"] = model_identity(model, model_folder(snakemake.config, model))
    return record


def _as_list(value):
    return value if isinstance(value, list | tuple) else [value]


def encode(record: dict[str, Any]) -> str:
    """The record as stored: canonical JSON (sorted keys), so equal records give equal bytes."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def read(path: str | Path) -> dict[str, Any] | None:
    """The provenance record stored in a Parquet or safetensors file (``None`` when there is none)."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        stored = (pq.read_schema(path).metadata or {}).get(KEY.encode())
        return json.loads(stored) if stored else None
    from safetensors import safe_open

    with safe_open(str(path), "numpy") as handle:
        stored = (handle.metadata() or {}).get(KEY)
    return json.loads(stored) if stored else None


def verify(results: str | Path, workflow_dir: str | Path = ".") -> list[str]:
    """Every difference between what the results under ``results`` recorded and what is at hand now.

    Checks each file's own bytes against the hash recorded when it was written (every file, hashed anew:
    :mod:`interpflow.runtime.output_records`), its package versions against the installed ones, its model's
    weights against the model folder (hashed anew), and its commit against the checkout at ``workflow_dir``.
    A file that cannot be read is a mismatch too, with the reason.
    """
    from interpflow.runtime.model_records import file_hashes, weights_sha256
    from interpflow.runtime.output_records import damaged_outputs

    installed, now = package_versions(), git_state(workflow_dir)
    weights: dict[str, str | None] = {}
    results_folder = Path(os.path.relpath(Path(results).resolve(), Path(workflow_dir).resolve()))
    problems = [
        f"{Path(workflow_dir) / damage.output}: not what rule {damage.rule} wrote: {damage.reason}"
        for damage in damaged_outputs(workflow_dir, full=True)
        if results_folder in Path(damage.output).parents or results_folder == Path(".")
    ]
    for path in sorted(p for p in Path(results).rglob("*") if p.suffix in (".parquet", ".safetensors")):
        try:
            record = read(path)
        except Exception as error:  # noqa: BLE001 (any reader's error is this file's problem, listed, not raised)
            problems.append(f"{path}: cannot be read ({type(error).__name__}: {error})")
            continue
        if record is None:
            problems.append(f"{path}: no provenance recorded")
            continue
        for name, version in record["packages"].items():
            if version != installed.get(name):
                problems.append(f"{path}: {name} {version} recorded, {installed.get(name)} installed")
        model = record.get("model")
        if model:
            folder = Path(workflow_dir) / model["folder"]
            if model["folder"] not in weights:
                weights[model["folder"]] = weights_sha256(file_hashes(folder)) if folder.is_dir() else None
            if weights[model["folder"]] != model["weights_sha256"]:
                problems.append(
                    f"{path}: model '{model['name']}' weights {model['weights_sha256'][:12]} recorded, "
                    f"{(weights[model['folder']] or 'no folder')[:12]} in {model['folder']}"
                )
        commit = record["interpflow"]["commit"]
        if commit and now["commit"] and commit != now["commit"]:
            problems.append(f"{path}: made at commit {commit[:12]}, the checkout is at {now['commit'][:12]}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m interpflow.runtime.provenance", description=__doc__.splitlines()[0]
    )
    parser.add_argument("command_or_file", help="a .parquet or .safetensors file, or 'verify'")
    parser.add_argument("results", nargs="?", default="results", help="with verify: the results folder")
    args = parser.parse_args(argv)
    if args.command_or_file == "verify":
        problems = verify(args.results)
        for problem in problems:
            print(problem)
        print(f"{len(problems)} mismatch(es) between {args.results} and the environment and models at hand")
        return 1 if problems else 0
    record = read(args.command_or_file)
    if record is None:
        print(f"{args.command_or_file}: no provenance recorded", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

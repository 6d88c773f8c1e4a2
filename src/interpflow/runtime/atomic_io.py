"""Atomic writers: an output file either appears complete or not at all, with the umask's mode, and
recorded with its own hash (:mod:`interpflow.runtime.output_records`) when a stage wrote it.

Each writer writes to a temporary file beside the target and renames it into place, so an
interrupted job (crash, ``scancel``, power loss) never leaves a half-written result that a
later run could mistake for a complete one. A job killed outright (``kill -9``) cannot remove its
temporary file; the next write of the same target does.

Every file and folder gets the mode the user's umask gives a new one (0644 and 0755 under umask
022, 0664 and 0775 under 002), whichever library wrote it: ``safetensors`` and ``save_pretrained``
replace the files they write with 0600 ones, which would keep colleagues and jobs running as
another user on a shared file system from reading the activation stores, SAEs and models.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import save_file

from interpflow.runtime import output_records

_UMASK = os.umask(0)
os.umask(_UMASK)


# The running stage's provenance (JSON), stored in every Parquet and safetensors file it writes;
# set once by interpflow.stage_logging.start_stage.
PROVENANCE_KEY = "interpflow.provenance"
_provenance: str | None = None


def set_provenance(record_json: str | None) -> None:
    """Store ``record_json`` under ``interpflow.provenance`` in every table and tensor file written from now on."""
    global _provenance
    _provenance = record_json


def provenance_metadata(metadata: dict[str, str] | None = None) -> dict[str, str] | None:
    """``metadata`` with the running stage's provenance added (when a stage has set one)."""
    if _provenance is None:
        return metadata
    return {**(metadata or {}), PROVENANCE_KEY: _provenance}


FILE_MODE = 0o666 & ~_UMASK
FOLDER_MODE = 0o777 & ~_UMASK


def _remove_stale_temporaries(target: Path) -> None:
    """Remove what an earlier writer of ``target`` killed with SIGKILL left behind."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


def _apply_umask(root: Path) -> None:
    """Give ``root`` (and, for a folder, everything in it) the umask's file and folder modes."""
    paths = [root, *root.rglob("*")] if root.is_dir() else [root]
    for path in paths:
        if not path.is_symlink():
            os.chmod(path, FOLDER_MODE if path.is_dir() else FILE_MODE)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _apply_umask(Path(tmp))  # after writing: the writer may have replaced the file
        os.replace(tmp, target)
        record_written(target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike):
    """Yield a temporary folder beside ``path``; it replaces ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _apply_umask(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        record_written(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def record_written(target: Path) -> None:
    """Record the output just written with its own hash, when a stage is recording (:mod:`output_records`)."""
    entry = output_records.entry(target)
    if entry is not None:  # the record is written as any file is (and is itself not recorded)
        write_text(json.dumps(entry, indent=1, sort_keys=True), output_records.record_path(entry["output"]))


def exit_on_sigterm() -> None:
    """Turn SIGTERM (``scancel``, a job's time limit, Ctrl-C of snakemake) into ``SystemExit``.

    Python's default is to die at once, which skips the cleanup above and leaves temporary files
    behind; as an exception, the signal unwinds the stage and removes them.
    """

    def stop(signum, frame):
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``frame`` to Parquet atomically, without the pandas index, with the stage's provenance."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if _provenance is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), PROVENANCE_KEY: _provenance})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_safetensors(arrays: dict, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write a ``name -> numpy array`` mapping to safetensors atomically, with the stage's provenance."""
    contiguous = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, str(tmp), metadata=provenance_metadata(metadata))
        _sort_safetensors_metadata(tmp)


def _sort_safetensors_metadata(path: Path) -> None:
    """Rewrite a safetensors header with its metadata keys sorted, in place.

    safetensors writes its metadata map in the order of a Rust hash map, which changes from process
    to process: with two keys or more, identical files would differ. The header is rewritten within
    its own length (padded with spaces, as safetensors pads it), so the tensor data does not move.
    """
    with open(path, "r+b") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
        if len(header.get("__metadata__") or {}) < 2:
            return
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > size:  # longer than the JSON safetensors wrote: cannot happen for the same content
            raise RuntimeError(f"{path}: sorted safetensors header does not fit ({len(text)} > {size} bytes)")
        handle.seek(8)
        handle.write(text.ljust(size, b" "))


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a UTF-8 text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")

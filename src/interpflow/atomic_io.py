"""Atomic writers: an output file either appears complete or not at all.

Each writer writes to a temporary file beside the target and renames it into place, so an
interrupted job (crash, ``scancel``, power loss) never leaves a half-written result that a
later run could mistake for a complete one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import save_file

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike):
    """Yield a temporary folder beside ``path``; it replaces ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def exit_on_sigterm() -> None:
    """Turn SIGTERM (``scancel``, a job's time limit, Ctrl-C of snakemake) into ``SystemExit``.

    Python's default is to die at once, which skips the cleanup above and leaves temporary files
    behind; as an exception, the signal unwinds the stage and removes them.
    """

    def stop(signum, frame):
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``frame`` to Parquet atomically, without the pandas index."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_safetensors(arrays: dict, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write a ``name -> numpy array`` mapping to safetensors atomically."""
    contiguous = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, str(tmp), metadata=metadata)


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a UTF-8 text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")

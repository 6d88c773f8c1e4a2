"""One writer per output: every stage holds an exclusive OS lock on each of its outputs while it runs.

Snakemake's own lock (``.snakemake/locks/``) cannot keep two runs from writing the same outputs:
every run that ends deletes the whole folder, the locks of runs still going included (Snakemake 9,
``persistence/file.py``, ``_delete_locks``). A colleague's short run on another target in the same
folder therefore unlocks a long run, and that run's command started again would train the same SAE
into the same files at the same time.

So each stage takes, for its whole run, an exclusive ``flock`` on one lock file per output, under
``.interpflow/locks/`` (the output's path relative to the working folder, plus ``.lock``). The
kernel releases it when the process ends, however it ends, so there is never anything to unlock;
the file stays behind, unlocked, and records the last holder. A run also looks before it starts
(:func:`writers`, from the Snakefile's ``onstart``): a job whose outputs another live process is
writing stops the whole run before Snakemake has removed or touched anything.

Across machines the lock needs a file system whose locks every node sees: NFS (v3 through its lock
manager, v4 natively) and CephFS do; Lustre only when mounted with ``-o flock``. A refused stage
names the process, host and user that hold the output.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LOCK_FOLDER = Path(".interpflow/locks")
# How long a stage keeps trying for a lock before it refuses: a run looking at the lock (writers())
# holds it for microseconds; a stage writing the output holds it for its whole run.
PATIENCE_S = 2.0

# The lock files this process holds: open for the life of the process (closing one releases it).
_held: list[int] = []


@dataclass(frozen=True)
class Holder:
    """Who holds an output's lock, as the holder wrote it into the lock file."""

    rule: str
    pid: int
    host: str
    user: str
    since: str  # local time the lock was taken, ISO 8601

    def describe(self) -> str:
        return f"rule {self.rule}, process {self.pid} on {self.host} (user {self.user}), since {self.since}"


class OutputsBeingWritten(RuntimeError):
    """Outputs that another live process is writing; the message names them, the holders and the fix."""

    def __init__(self, busy: dict[str, Holder | None]):
        self.busy = busy
        lines = [
            f"  {output}: {holder.describe() if holder else 'a process that has not said who it is'}"
            for output, holder in busy.items()
        ]
        super().__init__(
            f"{len(busy)} output(s) are being written by another run right now:\n" + "\n".join(lines) + "\n"
            "Two writers would corrupt them. Wait for that run to finish (it writes these outputs itself) "
            "or stop it, then run again; its lock goes with its process, so there is nothing to unlock."
        )


def lock_file(output: str | os.PathLike) -> Path:
    """The lock file of ``output``: its path under :data:`LOCK_FOLDER`, relative to the working folder."""
    path = Path(os.path.abspath(output))
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:  # an output outside the working folder
        relative = Path("_absolute", *path.parts[1:])
    return LOCK_FOLDER / relative.parent / f"{relative.name}.lock"


def hold(outputs: Iterable[str | os.PathLike], rule: str) -> None:
    """Lock every output for the rest of this process's life, or raise :class:`OutputsBeingWritten`.

    Locks are taken in sorted order and all or none: a refused stage holds nothing.
    """
    taken = []
    busy = {}
    for output in sorted({os.fspath(output) for output in outputs}):
        descriptor = _open(lock_file(output), create=True)
        if _lock(descriptor, fcntl.LOCK_EX, patience_s=PATIENCE_S):
            taken.append(descriptor)
        else:
            busy[output] = _holder(descriptor)
            os.close(descriptor)
    if busy:
        for descriptor in taken:
            os.close(descriptor)
        raise OutputsBeingWritten(busy)
    record = {
        "rule": rule,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "user": _user(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    for descriptor in taken:
        with contextlib.suppress(OSError):  # a lock file another user owns (read-only here) keeps no record
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, (json.dumps(record) + "\n").encode(), 0)
    _held.extend(taken)


def writers(outputs: Iterable[str | os.PathLike]) -> dict[str, Holder | None]:
    """``output -> holder`` for each output that a live process holds locked now (others left out)."""
    busy = {}
    for output in sorted({os.fspath(output) for output in outputs}):
        path = lock_file(output)
        if not path.exists():
            continue
        descriptor = _open(path, create=False)
        try:
            if _lock(descriptor, fcntl.LOCK_SH, patience_s=0.0):
                fcntl.flock(descriptor, fcntl.LOCK_UN)
            else:
                busy[output] = _holder(descriptor)
        finally:
            os.close(descriptor)
    return busy


def refuse_outputs_being_written(jobs) -> None:
    """Raise :class:`OutputsBeingWritten` if a live process writes an output of any of Snakemake's ``jobs``."""
    busy = writers(output for job in jobs for output in job.output)
    if busy:
        raise OutputsBeingWritten(busy)


def _open(path: Path, create: bool) -> int:
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask gives colleagues read access
        except PermissionError:  # another user's lock file: a shared lock needs no write access
            pass
    return os.open(path, os.O_RDONLY)


def _lock(descriptor: int, kind: int, patience_s: float) -> bool:
    deadline = time.monotonic() + patience_s
    while True:
        try:
            fcntl.flock(descriptor, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _holder(descriptor: int) -> Holder | None:
    try:
        return Holder(**json.loads(os.pread(descriptor, 4096, 0)))
    except (OSError, ValueError, TypeError):  # not yet written, or written by another version
        return None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no name (some containers)
        return str(os.getuid())

"""Each output's own hash, recorded when a stage writes it, and the check that finds a damaged one.

Provenance (:mod:`interpflow.runtime.provenance`) records the hashes of a file's *inputs*; nothing in a file
can hold its own hash. So every file or folder a stage writes through :mod:`interpflow.runtime.atomic_io`
gets a record beside the results, under ``.interpflow/outputs/`` (the output's path relative to the working
folder, plus ``.json``), written atomically (by :mod:`interpflow.runtime.atomic_io`) right after the output is
renamed into place::

    {"output": "results/.../sae.safetensors", "rule": "streaming_sae_train",
     "files": {"": {"size": 52344, "mtime_ns": ..., "sha256": "..."}}}

(a folder's files by their paths inside it). A file whose size differs from its record, or whose
modification time differs and whose sha256 then differs too, is *damaged*: a partial copy, a full quota on a
cluster file system, a stray edit. :func:`damaged_outputs` finds them (a stat per file; the full hash only
where the time changed, or for every file with ``full=True``), and :func:`set_aside` moves one out of the way
as ``<output>.damaged``, so that Snakemake sees it missing and rebuilds it and what depends on it.

Only files written by a running stage are recorded (:func:`start_recording`, from ``start_stage``), never a
temporary file inside an atomic folder.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

RECORD_FOLDER = Path(".interpflow/outputs")
DAMAGED_SUFFIX = ".damaged"

_rule: str | None = None  # the running stage's rule; None: nothing is recorded
_inputs: list[str] = []  # and its inputs


def start_recording(rule: str, inputs=()) -> None:
    """Record every output written from now on as made by ``rule`` from ``inputs`` (paths)."""
    global _rule, _inputs
    _rule, _inputs = rule, sorted({os.path.relpath(path) for path in inputs})


def record_path(output: str | os.PathLike, root: str | os.PathLike = ".") -> Path:
    """Where the record of ``output`` (a path relative to the working folder ``root``) is kept."""
    return Path(root) / RECORD_FOLDER / (os.path.relpath(output, root) + ".json")


def _files(output: Path) -> dict[str, Path]:
    """``name -> path``: ``""`` for a file; for a folder, each file under it by its path inside it."""
    if output.is_dir():
        return {path.relative_to(output).as_posix(): path for path in sorted(output.rglob("*")) if path.is_file()}
    return {"": output}


def _describe(path: Path) -> dict[str, int | str]:
    from interpflow.runtime.model_records import sha256_of_file

    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_of_file(path)}


def _inside_a_temporary(path: Path) -> bool:
    return any(part.startswith(".") and part.endswith(".tmp") for part in path.parts)


def entry(output: str | os.PathLike) -> dict | None:
    """The record of ``output``, just written (``None`` when no stage is recording, for a file inside an
    atomic writer's temporary folder, outside the working folder, or a record itself)."""
    output = Path(output)
    relative = os.path.relpath(output)
    skipped = relative.startswith("..") or Path(relative).is_relative_to(RECORD_FOLDER)
    if _rule is None or _inside_a_temporary(output) or skipped:
        return None
    return {
        "output": relative,
        "rule": _rule,
        "inputs": _inputs,
        "files": {name: _describe(path) for name, path in _files(output).items()},
    }


@dataclass(frozen=True)
class Damage:
    """A recorded output that is not what its stage wrote: ``output``, the ``rule`` that made it, why."""

    output: str
    rule: str
    reason: str

    def describe(self) -> str:
        return f"{self.output} (made by rule {self.rule}): {self.reason}"

    def rebuild(self) -> str:
        return f"a plain rerun rebuilds it once it is gone (or snakemake --forcerun {self.rule} ...)"


def check(record_file: str | os.PathLike, root: str | os.PathLike = ".", full: bool = False) -> Damage | None:
    """The damage to the output a record describes (``None``: intact, or gone: a missing output is Snakemake's
    to rebuild). Cheap unless ``full``: a file whose size and modification time are the recorded ones is
    taken as intact; one whose time changed is hashed."""
    try:
        entry = json.loads(Path(record_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a record being replaced, or unreadable: nothing to go by
    output = Path(root) / entry["output"]
    if not output.exists():
        if output.with_name(output.name + DAMAGED_SUFFIX).exists():  # set aside by an earlier (dry) run
            return Damage(
                entry["output"], entry["rule"], f"set aside as {output.name}{DAMAGED_SUFFIX}, not yet rebuilt"
            )
        return None
    found = _files(output) if output.is_dir() else {"": output}
    retimed = False
    for name, recorded in entry["files"].items():
        path = found.get(name)
        where = f"{name}: " if name else ""
        if path is None:
            return Damage(entry["output"], entry["rule"], f"{where}missing from the folder")
        stat = path.stat()
        if stat.st_size != recorded["size"]:
            return Damage(
                entry["output"], entry["rule"], f"{where}{stat.st_size} bytes, {recorded['size']} when written"
            )
        if full or stat.st_mtime_ns != recorded["mtime_ns"]:
            from interpflow.runtime.model_records import sha256_of_file

            if sha256_of_file(path) != recorded["sha256"]:
                return Damage(entry["output"], entry["rule"], f"{where}its sha256 differs from when it was written")
            retimed |= stat.st_mtime_ns != recorded["mtime_ns"]
            recorded["mtime_ns"] = stat.st_mtime_ns
    if retimed:  # the same bytes with a new time (Snakemake touches finished outputs): check by stat from now on
        _rewrite(Path(record_file), entry)
    return None


def _rewrite(record_file: Path, entry: dict) -> None:
    from interpflow.runtime.atomic_io import write_text  # (atomic_io records through this module)

    write_text(json.dumps(entry, indent=1, sort_keys=True), record_file)


def damaged_inputs(paths) -> list[Damage]:
    """The damaged ones of a stage's inputs that interpflow wrote (those without a record are not checked)."""
    found = []
    for path in paths:
        record_file = record_path(path)
        if record_file.is_file() and (damage := check(record_file)) is not None:
            found.append(damage)
    return found


def records(root: str | os.PathLike = ".") -> list[Path]:
    folder = Path(root) / RECORD_FOLDER
    return sorted(folder.rglob("*.json")) if folder.is_dir() else []


def damaged_outputs(root: str | os.PathLike = ".", full: bool = False) -> list[Damage]:
    """Every recorded output under ``root`` that is damaged (:func:`check`)."""
    return [damage for path in records(root) if (damage := check(path, root, full)) is not None]


def set_aside(damage: Damage, root: str | os.PathLike = ".") -> Path:
    """Move the damaged output to ``<output>.damaged`` (replacing an earlier one); returns where it went
    (where it is, if an earlier run moved it there)."""
    output = Path(root) / damage.output
    aside = output.with_name(output.name + DAMAGED_SUFFIX)
    if not output.exists():
        return aside
    if aside.is_dir():
        shutil.rmtree(aside)
    os.replace(output, aside)
    return aside


def set_aside_damaged_outputs(root: str | os.PathLike = ".") -> list[tuple[Damage, Path]]:
    """Set every damaged output aside (:func:`set_aside`) but those a live process is writing now (its record
    follows the output by the time the hash takes), and date the outputs of the stages that read one back to
    the epoch (:func:`date_back_readers`); returns what was moved, and where."""
    from interpflow.runtime.output_locks import writers

    moved = []
    for damage in damaged_outputs(root):
        if not writers([damage.output]):
            moved.append((damage, set_aside(damage, root)))
    date_back_readers([damage.output for damage, _ in moved], root)
    return moved


def date_back_readers(outputs: list[str], root: str | os.PathLike = ".") -> list[str]:
    """Set the modification time of every recorded output made from one of ``outputs`` (or from a file in
    one of them) to the epoch; returns those outputs. A missing file alone reruns nothing whose outputs exist
    (Snakemake treats it as a removed intermediate); an output older than its inputs reruns its job, which
    needs the missing file, whose job therefore runs too, and Snakemake reruns what follows as usual."""
    gone = [Path(output) for output in outputs]
    readers = []
    for record_file in records(root):
        try:
            entry = json.loads(record_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        inputs = [Path(path) for path in entry.get("inputs", [])]
        if not any(path == output or output in path.parents for path in inputs for output in gone):
            continue
        target = Path(root) / entry["output"]
        for path in [target, *(target.rglob("*") if target.is_dir() else [])]:
            if path.exists():
                os.utime(path, ns=(0, 0))
        readers.append(entry["output"])
    return readers

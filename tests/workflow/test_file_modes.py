"""Every file the workflow writes gets the mode the user's umask gives a new file, whoever writes it.

On a cluster's shared file system, colleagues and downstream jobs running as another user must be
able to read the activation stores, the SAE and the models: ``safetensors`` and ``save_pretrained``
write through temporary files of their own (mode 0600), which the writers here correct.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflow_helpers import UMASK

WRITTEN = ("results", "models", "logs")


def modes(workdir: Path, extra=()) -> dict[str, int]:
    """``relative path -> permission bits`` of every file and folder the workflow wrote."""
    found = {}
    for top in [*WRITTEN, *extra]:
        root = workdir / top
        paths = [root, *root.rglob("*")] if root.is_dir() else [root]
        for path in paths:
            found[path.relative_to(workdir).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


def expected(path_mode: dict[str, int], workdir: Path, umask: int) -> dict[str, int]:
    return {path: (0o777 if (workdir / path).is_dir() else 0o666) & ~umask for path in path_mode}


WRITE_EVERY_KIND = """
import os, sys
from pathlib import Path
import numpy as np, pandas as pd
from interpflow.runtime import atomic_io
out = Path(sys.argv[1])
atomic_io.write_safetensors({"x": np.zeros(3, np.float32)}, out / "a.safetensors")
atomic_io.write_parquet(pd.DataFrame({"x": [1]}), out / "b.parquet")
atomic_io.write_text("x", out / "c.txt")
with atomic_io.atomic_directory(out / "folder") as folder:
    (folder / "inner").mkdir()
    (folder / "inner" / "private.bin").write_bytes(b"x")
    os.chmod(folder / "inner" / "private.bin", 0o600)  # as save_pretrained's safetensors are
"""


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writers_follow_the_umask(tmp_path, umask):
    """In a process of its own, as a stage is: the writers read the umask once, at import."""
    subprocess.run(
        [sys.executable, "-c", WRITE_EVERY_KIND, str(tmp_path)], check=True, preexec_fn=lambda: os.umask(umask)
    )
    found = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.rglob("*")}
    files, folders = 0o666 & ~umask, 0o777 & ~umask
    assert found == {
        "a.safetensors": files,
        "b.parquet": files,
        "c.txt": files,
        "folder": folders,
        "inner": folders,
        "private.bin": files,
    }


def test_a_killed_writer_leaves_nothing_the_next_write_keeps(tmp_path):
    from interpflow.runtime.atomic_io import write_text

    stale = tmp_path / ".table.parquet.abc123.tmp"
    stale.write_text("half written by a job killed with SIGKILL")
    (tmp_path / ".model.x1.tmp").mkdir()
    write_text("x", tmp_path / "table.parquet")
    assert sorted(path.name for path in tmp_path.iterdir()) == [".model.x1.tmp", "table.parquet"]


@pytest.mark.e2e
def test_every_file_of_the_shared_run_follows_a_group_shared_umask(local_run):
    """The shared run (every stage of the embedded overlay) and the reruns in its folder ran under umask
    002 (:data:`~tests.workflow_helpers.UMASK`): every file 0664, every folder 0775, where ``safetensors``
    and ``save_pretrained`` alone would leave 0600. The report's mode: test_report.py."""
    found = modes(local_run.workdir)
    assert {
        "models/embedded/embedded/model.safetensors",
        "results/activations/embedded/palinka.safetensors",
        "results/activations/embedded/demo_corpus/shard-0.safetensors",
        "results/sparse_autoencoder/palinka/embedded/sae.safetensors",
        "results/streaming_sae/demo_topk/embedded/saelens/sae_weights.safetensors",
        "results/neuron_contrast/him_her/embedded/target_activations.safetensors",
        "results/subspace_removal/ravel/embedded/inspection.safetensors",
        "results/residual_decomposition/comparison.svg",
        "logs/models/build_embedded.log",
    } <= set(found)
    wrong = {path: oct(mode) for path, mode in found.items() if mode != expected(found, local_run.workdir, UMASK)[path]}
    assert not wrong

"""Shared fixtures: a tiny embedded model (built once per session) and the project paths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER_DIR = ROOT / "resources" / "gpt2-tokenizer"
TINY_SPEC = {"source": "embedded", "n_layer": 3, "n_embd": 32, "n_head": 4, "n_positions": 128, "seed": 7}


@pytest.fixture(scope="session")
def project_config() -> dict:
    with open(ROOT / "config.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from interpflow.models.loading import build_embedded_model

    return build_embedded_model(TINY_SPEC, TOKENIZER_DIR, tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from interpflow.models.loading import load_model

    return load_model(tiny_model_dir, "cpu", n_layer=TINY_SPEC["n_layer"])


@pytest.fixture(scope="session")
def local_run(tmp_path_factory):
    """The whole embedded workflow run once on this machine, and its Parquet tables as first written.

    Tests that change the run's configuration afterwards share the folder; ``tables`` keeps the
    reference that other ways of running the same config (e.g. on SLURM) are compared against.
    Under pytest-xdist (``make test``) the first worker that asks makes the run in the session's
    shared temporary folder, and each worker works in its own copy of it (times and Snakemake's
    records kept, so the copy is as complete as the run).
    """
    from tests.workflow_helpers import LocalRun, copy_project, parquet_tables, snakemake

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        workdir = copy_project(tmp_path_factory.mktemp("project"))
        snakemake(workdir)
        return LocalRun(workdir, parquet_tables(workdir))
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / "local_run"  # one folder per session, for all workers
    with FileLock(f"{shared}.lock"):
        if not (shared / "complete").exists():
            snakemake(copy_project(shared / "project"))
            (shared / "complete").touch()
    workdir = tmp_path_factory.mktemp("project")
    shutil.copytree(shared / "project", workdir, symlinks=True, dirs_exist_ok=True)
    return LocalRun(workdir, parquet_tables(workdir))


TINY_CORPUS_SITES = ["blocks.0.mlp.hook_pre", "blocks.1.hook_resid_pre"]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory, tiny_model):
    """The lecture texts as a corpus of 16-token windows in 4 shards, extracted by the tiny model:
    ``(Corpus, folder)``; the folder holds tokens.parquet, shard-<i>.safetensors and manifest.json."""
    from interpflow.stores.corpus import Corpus
    from interpflow.stores.corpus_store import write_manifest, write_token_table
    from interpflow.stores.shard_extraction import extract_shard

    folder = tmp_path_factory.mktemp("tiny_corpus")
    files = tuple(sorted((ROOT / "resources" / "texts").glob("*.txt")))
    corpus = Corpus("texts", files, "text", 16, None, 4, True)
    model, tokenizer = tiny_model
    write_token_table(corpus, tokenizer, folder / "tokens.parquet", windows_per_group=4)
    shards = [folder / f"shard-{shard}.safetensors" for shard in range(4)]
    for shard, path in enumerate(shards):
        extract_shard(model, folder / "tokens.parquet", shard, 16, TINY_CORPUS_SITES, path, batch_size=3)
    write_manifest(shards, folder / "manifest.json", {"name": "tiny"}, {"name": "texts", "prepend_bos": True})
    return corpus, folder

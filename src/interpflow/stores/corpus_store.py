"""The sharded activation store of a corpus under one model.

On disk, under ``results/activations/<model>/<corpus>/``:

- ``tokens.parquet``: the corpus's windows (:mod:`interpflow.stores.corpus`), one row per token:
  ``shard``, ``window`` (index of the window within its shard), ``position`` (0-based within the
  window), ``token_id``. Each row group holds windows of one shard only, so a shard's extraction
  reads its own row groups, a group at a time.
- ``shard-<i>.safetensors``: one tensor per site, ``(windows, context_size, width)`` in the storage
  dtype, and ``token_ids`` ``(windows, context_size)`` int32; written a batch of windows at a time
  (:func:`interpflow.stores.shard_extraction.extract_shard`).
- ``manifest.json``: what the shards hold (sites and widths, dtype, windows and tokens per shard,
  each shard's sha256) and where it came from (model identity, corpus options). Every stage
  downstream of the extraction reads the manifest and the shards it lists, never the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from interpflow.runtime import atomic_io
from interpflow.runtime.model_records import sha256_of_file
from interpflow.stores.corpus import Corpus, CorpusError, windows
from interpflow.stores.tensor_stream import STORAGE_DTYPES, TensorStreamReader

TOKEN_COLUMNS = ["shard", "window", "position", "token_id"]
TOKEN_SCHEMA = pa.schema(
    [("shard", pa.int32()), ("window", pa.int64()), ("position", pa.int32()), ("token_id", pa.int32())]
)
MANIFEST_VERSION = 1


def write_token_table(corpus: Corpus, tokenizer, path: str | os.PathLike, windows_per_group: int = 256) -> list[int]:
    """Tokenize the corpus into ``tokens.parquet`` (module docstring), streaming; returns windows per shard."""
    return write_windows(windows(corpus, tokenizer), corpus.n_shards, path, _corpus_record(corpus), windows_per_group)


def write_windows(
    stream: Iterable[np.ndarray],
    n_shards: int,
    path: str | os.PathLike,
    corpus: dict[str, Any],
    windows_per_group: int = 256,
) -> list[int]:
    """Write windows (each ``(context_size,)`` int32) to a token table, window ``w`` to shard
    ``w % n_shards``, a row group of ``windows_per_group`` windows of one shard at a time.
    ``corpus`` is recorded in the file's metadata. Returns the windows per shard."""
    buffers: list[list[np.ndarray]] = [[] for _ in range(n_shards)]
    counts = [0] * n_shards
    metadata = {"interpflow.corpus": json.dumps(corpus, sort_keys=True)}
    schema = TOKEN_SCHEMA.with_metadata(atomic_io.provenance_metadata(metadata))
    with ExitStack() as stack:
        tmp = stack.enter_context(atomic_io.atomic_path(path))
        writer = stack.enter_context(pq.ParquetWriter(tmp, schema))

        def flush(shard: int) -> None:
            block = np.stack(buffers[shard])
            n, size = block.shape
            columns = {
                "shard": np.full(n * size, shard, dtype=np.int32),
                "window": np.repeat(np.arange(counts[shard], counts[shard] + n, dtype=np.int64), size),
                "position": np.tile(np.arange(size, dtype=np.int32), n),
                "token_id": block.ravel(),
            }
            writer.write_table(pa.table(columns, schema=schema), row_group_size=n * size)
            counts[shard] += n
            buffers[shard] = []

        for index, window in enumerate(stream):
            shard = index % n_shards
            buffers[shard].append(window)
            if len(buffers[shard]) == windows_per_group:
                flush(shard)
        for shard in range(n_shards):
            if buffers[shard]:
                flush(shard)
        if min(counts) == 0:
            raise CorpusError("n_shards", f"{sum(counts)} windows for {n_shards} shards; lower n_shards")
    return counts


def _corpus_record(corpus: Corpus) -> dict[str, Any]:
    return {
        "name": corpus.name,
        "files": [str(path) for path in corpus.files],
        "text_field": corpus.text_field,
        "context_size": corpus.context_size,
        "max_tokens": corpus.max_tokens,
        "n_shards": corpus.n_shards,
        "prepend_bos": corpus.prepend_bos,
    }


def _shard_row_groups(table: pq.ParquetFile, shard: int) -> list[int]:
    groups = []
    for index in range(table.metadata.num_row_groups):
        stats = table.metadata.row_group(index).column(0).statistics
        if stats.min == shard == stats.max:
            groups.append(index)
    return groups


def shard_windows(path: str | os.PathLike, shard: int, context_size: int) -> tuple[int, Iterator[np.ndarray]]:
    """The number of windows of ``shard`` in a token table, and an iterator over them in blocks
    (``(windows, context_size)`` int32, one row group each)."""
    table = pq.ParquetFile(path)
    groups = _shard_row_groups(table, shard)
    total = sum(table.metadata.row_group(index).num_rows for index in groups) // context_size

    def blocks() -> Iterator[np.ndarray]:
        for index in groups:
            ids = table.read_row_group(index, columns=["token_id"]).column(0).to_numpy()
            yield ids.reshape(-1, context_size)

    return total, blocks()


def write_manifest(
    shard_paths: list[str | os.PathLike], path: str | os.PathLike, model: dict[str, Any], corpus: dict[str, Any]
) -> dict[str, Any]:
    """Describe the shards in ``manifest.json`` (shard files named relative to the manifest's folder)."""
    folder = Path(path).parent
    shards, sites, dtypes = [], None, set()
    for shard_path in shard_paths:
        with TensorStreamReader(shard_path) as reader:
            shard_sites = {name: reader.shape(name)[-1] for name in reader.header if name != "token_ids"}
            if sites is not None and shard_sites != sites:
                raise ValueError(f"{shard_path}: sites {shard_sites} differ from the other shards' {sites}")
            sites = shard_sites
            dtypes |= {reader.dtype(name) for name in shard_sites}
            windows_, context_size = reader.shape("token_ids")
        shards.append(
            {
                "file": os.path.relpath(shard_path, folder),
                "windows": windows_,
                "tokens": windows_ * context_size,
                "sha256": sha256_of_file(shard_path),
            }
        )
    storage = {code: name for name, code in STORAGE_DTYPES.items()}
    manifest = {
        "version": MANIFEST_VERSION,
        "model": model,
        "corpus": corpus,
        "sites": dict(sorted(sites.items())),
        "dtype": storage[dtypes.pop()],
        "context_size": context_size,
        "tokens": sum(shard["tokens"] for shard in shards),
        "shards": shards,
    }
    atomic_io.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", path)
    return manifest


class CorpusStore:
    """Read a sharded store through its manifest: windows of a site, as float32, from any shard."""

    def __init__(self, manifest_path: str | os.PathLike):
        self.manifest_path = Path(manifest_path)
        self.manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        self._readers: dict[int, TensorStreamReader] = {}

    @property
    def sites(self) -> dict[str, int]:
        """``site -> width``."""
        return self.manifest["sites"]

    @property
    def context_size(self) -> int:
        return self.manifest["context_size"]

    @property
    def prepend_bos(self) -> bool:
        return bool(self.manifest["corpus"]["prepend_bos"])

    @property
    def n_shards(self) -> int:
        return len(self.manifest["shards"])

    def windows(self, shard: int) -> int:
        return self.manifest["shards"][shard]["windows"]

    def width(self, site: str) -> int:
        if site not in self.sites:
            raise KeyError(
                f"site {site!r} is not in {self.manifest_path} (has: {', '.join(self.sites)}); rerun its extraction"
            )
        return self.sites[site]

    def reader(self, shard: int) -> TensorStreamReader:
        if shard not in self._readers:
            self._readers[shard] = TensorStreamReader(
                self.manifest_path.parent / self.manifest["shards"][shard]["file"]
            )
        return self._readers[shard]

    def activations(self, site: str, shard: int, window_indices) -> torch.Tensor:
        """``(len(window_indices), context_size, width)`` float32."""
        self.width(site)
        return self.reader(shard).take(site, window_indices).float()

    def token_ids(self, shard: int, window_indices) -> torch.Tensor:
        """``(len(window_indices), context_size)`` int32."""
        return self.reader(shard).take("token_ids", window_indices)

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()


def write_vocabulary(tokenizer, path: str | os.PathLike) -> None:
    """``vocabulary.parquet``: ``token_id`` and ``token`` (the id decoded alone) for every id of the tokenizer."""
    import pandas as pd

    ids = np.arange(len(tokenizer), dtype=np.int32)
    tokens = tokenizer.batch_decode([[int(i)] for i in ids])
    atomic_io.write_parquet(pd.DataFrame({"token_id": ids, "token": tokens}), path)

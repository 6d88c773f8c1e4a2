"""Extract a corpus shard: a forward pass per batch of windows, every needed site written as it comes.

The shard's windows come from the token table (:mod:`interpflow.stores.corpus_store`); the activations go
to one safetensors file, written a batch at a time (:class:`interpflow.stores.tensor_stream.TensorStreamWriter`),
so memory holds one batch, whatever the shard's size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import numpy as np
import torch

from interpflow.models.hooks import capture, hooked
from interpflow.models.sites import parse_site, sort_sites
from interpflow.runtime.progress import Progress
from interpflow.stores.corpus_store import shard_windows
from interpflow.stores.tensor_stream import STORAGE_DTYPES, TensorStreamWriter


class StopForward(Exception):
    """Raised at the deepest stored site: nothing after it is needed."""


def _rebatched(blocks: Iterator[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    pending = np.empty((0, 0), dtype=np.int32)
    for block in blocks:
        pending = block if pending.size == 0 else np.concatenate([pending, block])
        while len(pending) >= batch_size:
            yield pending[:batch_size]
            pending = pending[batch_size:]
    if len(pending):
        yield pending


@torch.no_grad()
def extract_shard(
    model,
    token_table: str | os.PathLike,
    shard: int,
    context_size: int,
    sites: list[str],
    path: str | os.PathLike,
    dtype: str = "float32",
    batch_size: int = 32,
    log=None,
) -> int:
    """Run ``model`` over one shard's windows, ``batch_size`` windows per forward pass, and write the
    activations at ``sites`` to ``path`` (module docstring). The forward pass stops after the deepest
    site. Returns the number of windows."""
    sites = sort_sites(list(dict.fromkeys(sites)))
    per_head = [site for site in sites if not parse_site(site).is_vector]
    if per_head:
        raise ValueError(
            f"corpus shards hold one vector per token; {', '.join(per_head)} are per head: "
            "extract them into a text set's store (interpflow.extraction.extract_activations) instead"
        )
    device = next(model.parameters()).device
    total, blocks = shard_windows(token_table, shard, context_size)
    progress = Progress(total, "windows", "extracted", log) if log else None
    storage = STORAGE_DTYPES[dtype]

    def stop(value):
        raise StopForward

    with ExitStack() as stack:
        captured = stack.enter_context(capture(model, sites))
        stack.enter_context(hooked(model, {sites[-1]: stop}))
        # Disk writes run on a second thread while the next batch computes; at most one waits.
        disk = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        writer, pending = None, None
        for batch in _rebatched(blocks, batch_size):
            ids = torch.tensor(batch, dtype=torch.long, device=device)
            try:
                model.base_model(input_ids=ids, use_cache=False)
            except StopForward:
                pass
            if writer is None:
                tensors = {site: (storage, (total, context_size, captured[site].shape[-1])) for site in sites}
                tensors["token_ids"] = ("I32", (total, context_size))
                metadata = {"interpflow": json.dumps({"sites": sites, "shard": shard}, sort_keys=True)}
                writer = stack.enter_context(TensorStreamWriter(path, tensors, metadata))
            # A copy even on the CPU: the writer thread reads it while the next batch computes.
            rows = {site: captured[site].to("cpu", copy=True) for site in sites} | {"token_ids": batch}
            if pending is not None:
                pending.result()
            pending = disk.submit(_write_rows, writer, rows)
            if progress:
                progress.advance(len(batch))
        if pending is not None:
            pending.result()
    return total


def _write_rows(writer: TensorStreamWriter, rows: dict) -> None:
    for name, values in rows.items():
        writer.write(name, values)

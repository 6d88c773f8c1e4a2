"""Safetensors files written and read a block of rows at a time, so no stage holds a whole tensor.

``safetensors`` writes a file from tensors held in memory. A shard of a corpus store is larger
than memory can be, but its shapes are known before the first forward pass, so
:class:`TensorStreamWriter` writes the header first (with every tensor's offsets) and then each
tensor's rows as they are computed. The result is an ordinary safetensors file
(``safetensors.safe_open`` reads it; tests/unit/test_tensor_stream.py). :class:`TensorStreamReader`
reads chosen rows of a tensor with ``pread``, never mapping the file: the memory a reader holds is
the rows it asked for (a memory map would count every page it touched as resident).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from interpflow.runtime.atomic_io import atomic_path, provenance_metadata

# safetensors dtype name -> (torch dtype, NumPy dtype the bytes are read as)
DTYPES = {
    "F32": (torch.float32, np.dtype("<f4")),
    "F16": (torch.float16, np.dtype("<f2")),
    "BF16": (torch.bfloat16, np.dtype("<u2")),  # NumPy has no bfloat16: read the bits, convert in torch
    "I32": (torch.int32, np.dtype("<i4")),
    "I64": (torch.int64, np.dtype("<i8")),
}
STORAGE_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


def _itemsize(dtype: str) -> int:
    return DTYPES[dtype][1].itemsize


class TensorStreamWriter:
    """Write tensors of known shapes to a safetensors file, rows in order (first dimension).

    ``tensors``: ``name -> (safetensors dtype, shape)``. Use as a context manager; every row of every
    tensor must be written (:meth:`write`) before it closes, and the file appears (atomically, with
    the stage's provenance in its metadata) only then.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        tensors: dict[str, tuple[str, Sequence[int]]],
        metadata: dict[str, str] | None = None,
    ):
        self.path = Path(path)
        self.shapes = {name: tuple(int(n) for n in shape) for name, (_, shape) in tensors.items()}
        self.dtypes = {name: dtype for name, (dtype, _) in tensors.items()}
        self.header, self.offsets, self.row_bytes = {}, {}, {}
        offset = 0
        for name in sorted(tensors):  # safetensors' own order: data laid out by name
            shape, dtype = self.shapes[name], self.dtypes[name]
            self.row_bytes[name] = int(np.prod(shape[1:], dtype=np.int64)) * _itemsize(dtype)
            size = shape[0] * self.row_bytes[name]
            self.header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
            self.offsets[name] = offset
            offset += size
        meta = provenance_metadata(metadata)
        if meta:
            self.header["__metadata__"] = dict(sorted(meta.items()))
        self.rows_written = dict.fromkeys(tensors, 0)

    def __enter__(self) -> TensorStreamWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        text = json.dumps(self.header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors writes it
        self._file = open(tmp, "wb")
        self._file.write(len(text).to_bytes(8, "little") + text)
        self._data_start = 8 + len(text)
        return self

    def write(self, name: str, rows: torch.Tensor | np.ndarray) -> None:
        """Append ``rows`` (``(n, *shape[1:])``) to tensor ``name``, cast to its dtype."""
        tensor = rows if isinstance(rows, torch.Tensor) else torch.from_numpy(np.array(rows))
        tensor = tensor.to(DTYPES[self.dtypes[name]][0]).contiguous().cpu()
        if tuple(tensor.shape[1:]) != self.shapes[name][1:]:
            raise ValueError(f"{name}: rows of shape {tuple(tensor.shape[1:])}, expected {self.shapes[name][1:]}")
        start = self.rows_written[name]
        if start + len(tensor) > self.shapes[name][0]:
            raise ValueError(f"{name}: more than its {self.shapes[name][0]} rows")
        data = tensor.view(torch.int16) if tensor.dtype == torch.bfloat16 else tensor
        self._file.seek(self._data_start + self.offsets[name] + start * self.row_bytes[name])
        self._file.write(data.numpy().tobytes())
        self.rows_written[name] = start + len(tensor)

    def __exit__(self, kind, value, traceback) -> None:
        self._file.close()
        if kind is None:
            short = {name: n for name, n in self.rows_written.items() if n != self.shapes[name][0]}
            if short:
                value = ValueError(f"{self.path}: tensors not fully written (rows written: {short})")
                self._atomic.__exit__(ValueError, value, None)
                raise value
        self._atomic.__exit__(kind, value, traceback)


class TensorStreamReader:
    """Read rows of the tensors of a safetensors file without mapping or loading the whole file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size))
        self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
        self.header = header
        self._data_start = 8 + size
        self._fd = os.open(self.path, os.O_RDONLY)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> TensorStreamReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.header[name]["shape"])

    def dtype(self, name: str) -> str:
        return self.header[name]["dtype"]

    def _row_bytes(self, name: str) -> int:
        return int(np.prod(self.shape(name)[1:], dtype=np.int64)) * _itemsize(self.dtype(name))

    def rows(self, name: str, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` of ``name`` as a torch tensor of the stored dtype."""
        entry, row_bytes = self.header[name], self._row_bytes(name)
        stop = min(stop, entry["shape"][0])
        count = max(stop - start, 0)
        buffer = bytearray(count * row_bytes)
        offset = self._data_start + entry["data_offsets"][0] + start * row_bytes
        view, done = memoryview(buffer), 0
        while done < len(buffer):
            got = os.preadv(self._fd, [view[done:]], offset + done)
            if got == 0:
                raise OSError(f"{self.path}: file ends inside tensor {name!r}; rerun the stage that wrote it")
            done += got
        torch_dtype, numpy_dtype = DTYPES[self.dtype(name)]
        array = np.frombuffer(buffer, dtype=numpy_dtype).reshape(count, *self.shape(name)[1:])
        tensor = torch.from_numpy(array.copy())
        return tensor.view(torch.bfloat16) if torch_dtype == torch.bfloat16 else tensor

    def take(self, name: str, indices: Sequence[int]) -> torch.Tensor:
        """Rows ``indices`` of ``name`` in the order given (runs of consecutive rows are read at once)."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) == 0:
            return self.rows(name, 0, 0)
        order = np.argsort(indices, kind="stable")
        sorted_rows = indices[order]
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        parts = [self.rows(name, int(run[0]), int(run[-1]) + 1) for run in np.split(sorted_rows, breaks)]
        gathered = torch.cat(parts)
        result = torch.empty_like(gathered)
        result[torch.from_numpy(order)] = gathered
        return result

"""Safetensors written a block of rows at a time and read back by rows, against the safetensors library."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from interpflow.runtime.atomic_io import FILE_MODE
from interpflow.stores.tensor_stream import TensorStreamReader, TensorStreamWriter


@pytest.fixture
def tensors():
    generator = torch.Generator().manual_seed(0)
    return {
        "activations": torch.randn(10, 3, 5, generator=generator),
        "halves": torch.randn(10, 4, generator=generator).half(),
        "brains": torch.randn(10, 4, generator=generator).bfloat16(),
        "token_ids": torch.randint(0, 50000, (10, 3), generator=generator, dtype=torch.int32),
    }


CODES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32"}


def write_in_blocks(path, tensors, block=3, metadata=None):
    layout = {name: (CODES[value.dtype], value.shape) for name, value in tensors.items()}
    with TensorStreamWriter(path, layout, metadata) as writer:
        for start in range(0, 10, block):
            for name, value in tensors.items():
                writer.write(name, value[start : start + block])


def test_a_streamed_file_is_what_safetensors_reads(tmp_path, tensors):
    path = tmp_path / "stream.safetensors"
    write_in_blocks(path, tensors, metadata={"note": "x"})
    loaded = load_file(path)
    assert set(loaded) == set(tensors)
    for name, value in tensors.items():
        assert loaded[name].dtype == value.dtype and torch.equal(loaded[name], value), name
    with TensorStreamReader(path) as reader:
        assert reader.metadata["note"] == "x"


def test_rows_and_takes_read_what_was_written(tmp_path, tensors):
    path = tmp_path / "stream.safetensors"
    write_in_blocks(path, tensors)
    with TensorStreamReader(path) as reader:
        for name, value in tensors.items():
            assert torch.equal(reader.rows(name, 2, 7), value[2:7])
            chosen = [9, 0, 4, 5, 4, 1]  # unordered, repeated, a run of two
            assert torch.equal(reader.take(name, chosen), value[chosen])
        assert reader.rows("activations", 8, 20).shape == (2, 3, 5)  # clipped at the end
        assert reader.take("activations", []).shape == (0, 3, 5)


def test_a_file_not_fully_written_never_appears(tmp_path, tensors):
    path = tmp_path / "stream.safetensors"
    layout = {name: (CODES[value.dtype], value.shape) for name, value in tensors.items()}
    with pytest.raises(ValueError, match="not fully written"):
        with TensorStreamWriter(path, layout) as writer:
            writer.write("activations", tensors["activations"][:4])
    assert not path.exists() and not list(tmp_path.iterdir())
    with pytest.raises(RuntimeError, match="stop"):
        with TensorStreamWriter(path, layout) as writer:
            raise RuntimeError("stop")
    assert not list(tmp_path.iterdir())


def test_rows_are_checked_against_the_declared_shape(tmp_path, tensors):
    layout = {"activations": ("F32", (10, 3, 5))}
    with pytest.raises(ValueError, match="expected"), TensorStreamWriter(tmp_path / "x.safetensors", layout) as writer:
        writer.write("activations", np.zeros((2, 3, 4), dtype=np.float32))


def test_a_streamed_file_gets_the_umask_mode_not_0600(tmp_path, tensors):
    write_in_blocks(tmp_path / "stream.safetensors", tensors)
    assert (tmp_path / "stream.safetensors").stat().st_mode & 0o777 == FILE_MODE

"""The activation store: what one forward pass over a text set left at the hooked sites.

On disk a store is two files:

- ``<text>.safetensors``: one float32 tensor per site name, shape ``(n_tokens, width)``;
  row ``i`` belongs to row ``i`` of the token table. Padding positions are never stored.
- ``<text>.tokens.parquet``: the token table, one row per real token, columns
  ``text_id`` (index of the text in its text set), ``position`` (0-based token position in that
  text), ``token_id`` (GPT-2 vocabulary id) and ``token`` (the decoded token string).

Reading needs NumPy only (no torch), so statistics and plot stages run in the light environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors import safe_open

from interpflow.runtime.atomic_io import write_parquet, write_safetensors

TOKEN_COLUMNS = ["text_id", "position", "token_id", "token"]


@dataclass
class ActivationStore:
    """Activations of real tokens: ``arrays[site]`` is ``(n_tokens, width)``, aligned with ``tokens``."""

    tokens: pd.DataFrame
    arrays: dict[str, np.ndarray]

    def __post_init__(self):
        for site, array in self.arrays.items():
            if array.shape[0] != len(self.tokens):
                raise ValueError(f"site {site}: {array.shape[0]} rows, but the token table has {len(self.tokens)}")

    def __getitem__(self, site: str) -> np.ndarray:
        """``(n_tokens, width)`` float32 array of one site."""
        if site not in self.arrays:
            raise KeyError(f"site {site!r} is not in the store (has: {', '.join(sorted(self.arrays))})")
        return self.arrays[site]

    @property
    def sites(self) -> list[str]:
        return sorted(self.arrays)

    def text_rows(self, text_id: int) -> np.ndarray:
        """Row indices of one text's tokens, in position order."""
        return np.flatnonzero(self.tokens["text_id"].to_numpy() == text_id)


def save_store(
    store: ActivationStore, tensor_path: str | Path, token_path: str | Path, metadata: dict | None = None
) -> None:
    """Write the store atomically: the tensors file, then the token table.

    ``metadata`` is kept as one JSON string under the key ``interpflow`` (one key, so the file's
    bytes do not depend on the order in which safetensors writes its metadata map).
    """
    write_safetensors(store.arrays, tensor_path, metadata=store_header(store.sites, metadata))
    write_parquet(store.tokens[TOKEN_COLUMNS], token_path)


def store_header(sites: list[str], metadata: dict | None = None) -> dict[str, str]:
    """The safetensors metadata of a store: ``{"interpflow": JSON of the sorted sites and metadata}``."""
    meta = {"sites": sorted(sites), **{key: str(value) for key, value in (metadata or {}).items()}}
    return {"interpflow": json.dumps(meta, sort_keys=True)}


def store_metadata(tensor_path: str | Path) -> dict:
    """The metadata :func:`save_store` wrote (sites, model, text, device)."""
    with safe_open(str(tensor_path), framework="numpy") as handle:
        return json.loads((handle.metadata() or {}).get("interpflow", "{}"))


def load_store(tensor_path: str | Path, token_path: str | Path, sites: list[str] | None = None) -> ActivationStore:
    """Read a store; ``sites`` limits which arrays are loaded (all by default)."""
    tokens = pd.read_parquet(token_path)
    with safe_open(str(tensor_path), framework="numpy") as handle:
        stored = set(handle.keys())
        names = sorted(stored) if sites is None else list(sites)
        missing = sorted(set(names) - stored)
        if missing:
            raise KeyError(f"{tensor_path} lacks sites {missing}; rerun its extraction")
        arrays = {name: handle.get_tensor(name) for name in names}
    return ActivationStore(tokens=tokens, arrays=arrays)

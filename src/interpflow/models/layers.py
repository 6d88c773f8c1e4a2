"""Layers as configs give them: a block index, or ``middle``."""

from __future__ import annotations


def resolve_layer(value: int | str, n_layer: int) -> int:
    """The block index of a configured layer: ``middle`` is ``n_layer // 2`` (the lectures' choice)."""
    return n_layer // 2 if value == "middle" else int(value)

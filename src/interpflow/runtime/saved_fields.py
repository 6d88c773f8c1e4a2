"""Dataclasses saved as JSON mappings."""

from __future__ import annotations

import dataclasses


class SavedFields:
    """``to_dict``/``from_dict`` of a dataclass saved as a JSON mapping; an unknown key on reading is an error
    (a file of another format)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        known = {field.name for field in dataclasses.fields(cls)}
        if unknown := sorted(set(values) - known):
            raise ValueError(f"unknown {cls.__name__} keys {unknown}; known: {sorted(known)}")
        return cls(**values)

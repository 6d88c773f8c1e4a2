"""Sweeps: an instance whose ``sae`` options give lists stands for one instance per combination of them.

``k: [16, 32]`` and ``latent_factor: [4, 8]`` in instance ``res`` give the four instances
``res-k=16-latent_factor=4``, ``res-k=16-latent_factor=8``, ... (the swept options in sorted order, each
point's value in its name), each with one value per option and everything else as ``res`` gave it. Every
point is a run of its own (its own folder, its own training job: the points of a sweep train in parallel
wherever the jobs can), all reading the same activation store. Instance names hold no ``-``, so the sweep a
point belongs to is its name up to the first ``-``.
"""

from __future__ import annotations

import itertools
from typing import Any

SEPARATOR = "-"


def swept_options(options: dict[str, Any]) -> dict[str, list]:
    """``option -> values`` of the options given as lists, sorted by option."""
    return {key: options[key] for key in sorted(options) if isinstance(options[key], list)}


def sweep_points(options: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``option -> value`` per combination of the swept options (none swept: no point)."""
    swept = swept_options(options)
    return [dict(zip(swept, values, strict=True)) for values in itertools.product(*swept.values())] if swept else []


def _value_text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def point_name(sweep: str, point: dict[str, Any]) -> str:
    """The instance name of one point of the sweep ``sweep``: ``<sweep>-<option>=<value>-...``."""
    return SEPARATOR.join([sweep, *(f"{key}={_value_text(value)}" for key, value in point.items())])


def sweep_name(instance: str) -> str:
    """The sweep an instance belongs to: its own name, for an instance that is not a sweep's point."""
    return instance.split(SEPARATOR, 1)[0]


# An instance name, a sweep's point's included (for wildcard constraints).
INSTANCE_PATTERN = r"[a-z][a-z0-9_]*(-[a-z0-9_]+=[A-Za-z0-9_.+-]+?)*"


def collapse_points(section: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The inverse of expanding a method's section: each sweep's points (instances with a ``sweep_point``
    record) back into the one instance that gave them, its swept options as lists in their order, in the
    place of its first point."""
    collapsed: dict[str, dict[str, Any]] = {}
    for name, instance in section.items():
        point = instance.get("sweep_point")
        if point is None:
            collapsed[name] = instance
            continue
        if point["sweep"] not in collapsed:
            given = {key: value for key, value in instance.items() if key != "sweep_point"}
            collapsed[point["sweep"]] = given | {"sae": given["sae"] | dict.fromkeys(point["values"])}
        options = collapsed[point["sweep"]]["sae"]
        for key, value in point["values"].items():
            values = options[key] or []
            options[key] = values if value in values else [*values, value]
    return collapsed

"""Sweeps: an instance whose ``sae`` options give lists becomes one instance per combination
(:mod:`interpflow.runtime.sweeps` names the points), and back.
"""

from __future__ import annotations

from typing import Any

from interpflow.config.loading import instances
from interpflow.registry import METHODS
from interpflow.runtime.sweeps import collapse_points, point_name, sweep_points


def expand_sweeps(config: dict[str, Any]) -> None:
    """Replace each instance whose ``sae`` options give lists by its points (:mod:`interpflow.runtime.sweeps`),
    in place and in order; a point records ``sweep_point``: its ``sweep``'s name and its ``values``."""
    for method in METHODS:
        section = instances(config, method)
        expanded: dict[str, Any] = {}
        for name, instance in section.items():
            points = sweep_points(instance.get("sae") or {})
            if not points:
                expanded[name] = instance
            for point in points:
                expanded[point_name(name, point)] = {
                    **instance,
                    "sae": instance["sae"] | point,
                    "sweep_point": {"sweep": name, "values": point},
                }
        if method in config:
            config[method] = expanded


def config_as_given(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (validated) with each sweep as one instance again, its options as lists (a copy): the
    configuration as written, defaults filled in, that validates to the same ``config``."""
    given = dict(config)
    for method in METHODS:
        if method in given:
            given[method] = collapse_points(given[method])
    return given

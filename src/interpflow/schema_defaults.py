"""The configuration schema's defaults, for code that takes options outside the workflow.

``schemas/config.schema.yaml`` is the one place that defines a default: the workflow fills every
option an instance leaves out from it (:func:`interpflow.config.validate_config`), and the option
objects that code builds by hand (``StreamingSAEConfig``, ``SAEConfig``; the benchmarks and tests
that build them) take theirs from it through :func:`option_defaults`, so a default cannot mean one
thing in a workflow run and another in a benchmark. ``tests/unit/test_schema_defaults.py`` fails when a
default written in code differs from the schema's.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


@cache
def _schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def option_schema(section: str) -> dict[str, Any]:
    """The schema of one section of options: ``"<definition>[.<option>...]"``, e.g. ``"streaming_sae.sae"``
    (a method's instance, the ``sae`` options in it) or ``"corpus"`` (a ``corpora`` entry), else a
    top-level key, e.g. ``"extraction"``."""
    schema = _schema()
    definition, *options = section.split(".")
    node = schema["$defs"][definition] if definition in schema["$defs"] else schema["properties"][definition]
    for option in options:
        node = node["properties"][option]
    return node


def option_defaults(section: str) -> dict[str, Any]:
    """``option -> default`` of every option of ``section`` (see :func:`option_schema`) that has one."""
    return {
        option: spec["default"]
        for option, spec in option_schema(section).get("properties", {}).items()
        if "default" in spec
    }

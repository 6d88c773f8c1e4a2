"""The configuration schema: assembled from its shared part and one fragment per method; its defaults.

``schemas/config.schema.yaml`` holds what every method shares (models, texts, corpora, resources,
the ``$defs`` that method options refer to); ``schemas/methods/<method>.yaml`` holds the options of one
instance of a method. :func:`workflow_schema` puts them together for the registered methods.

The schema is the one place that defines a default: the workflow fills every option an instance
leaves out from it (:func:`interpflow.config.validate_config`), and the option objects that code builds
by hand (``StreamingSchedule``; the benchmarks and tests that build them) take theirs
from it through :func:`option_defaults`, so a default cannot mean one thing in a workflow run and
another in a benchmark. ``tests/unit/test_schema_defaults.py`` fails when a default written in code
differs from the schema's.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"
SHARED_SCHEMA = SCHEMA_DIR / "config.schema.yaml"


def _read(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def method_schema_path(method: str) -> Path:
    """Where the options of one instance of ``method`` are defined."""
    return SCHEMA_DIR / "methods" / f"{method}.yaml"


def workflow_schema(methods: Iterable[str]) -> dict[str, Any]:
    """The whole configuration schema (a fresh copy) with a section for each of ``methods``: instance
    names (``$defs/instance_names``) mapped to instances (``$defs/<method>``, its fragment)."""
    schema = _read(SHARED_SCHEMA)
    for method in methods:
        schema["$defs"][method] = _read(method_schema_path(method))
        schema["properties"][method] = {
            "description": f"instances of {method}, by name",
            "type": "object",
            "default": {},
            "propertyNames": {"$ref": "#/$defs/instance_names"},
            "additionalProperties": {"$ref": f"#/$defs/{method}"},
        }
    return schema


@cache
def _section_root(definition: str) -> dict[str, Any]:
    shared = _read(SHARED_SCHEMA)
    if definition in shared["$defs"]:
        return shared["$defs"][definition]
    if method_schema_path(definition).is_file():
        return _read(method_schema_path(definition))
    return shared["properties"][definition]


def option_schema(section: str) -> dict[str, Any]:
    """The schema of one section of options: ``"<definition>[.<option>...]"``, e.g. ``"streaming_sae.sae"``
    (a method's instance, the ``sae`` options in it) or ``"corpus"`` (a ``corpora`` entry), else a
    top-level key, e.g. ``"extraction"``."""
    definition, *options = section.split(".")
    node = _section_root(definition)
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

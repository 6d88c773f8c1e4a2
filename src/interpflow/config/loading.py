"""Reading the merged configuration (``config.yaml`` plus every ``--configfile`` / ``--config``) into one form.

- :func:`check_unique_keys`: a config file that gives one key twice is an error (YAML keeps the last);
- :func:`type_command_line_strings`: ``--config`` hands nested values over as strings, typed here where the
  schema rejects the string;
- :func:`remove_null_instances`: an instance set to ``null`` is removed (how an overlay removes one);
- :func:`canonicalize_entries`: every entry's keys sorted at every depth, so a rule's params do not depend on
  the order options were written in;
- :func:`instances`: a method's instances, the accessor every check uses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from interpflow.registry import METHODS
from interpflow.runtime.errors import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a mapping that gives one key twice is an error (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(key, seen[key], line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key, first: int, again: int):
        super().__init__(f"{key!r} at line {again} was already given at line {first}")
        self.key, self.first, self.again = key, first, again


def check_unique_keys(paths) -> None:
    """Raise :class:`ConfigError` for a config file with a mapping that gives one key twice (the
    workflow would silently use the last), naming the file, the key and both lines."""
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        try:
            yaml.load(text, Loader=_UniqueKeyLoader)
        except DuplicateKeyError as error:
            relative = os.path.relpath(path)
            shown = str(path) if relative.startswith("..") else relative
            raise ConfigError(
                str(error.key),
                f"given twice in {shown}, at lines {error.first} and {error.again} (YAML would keep the last "
                "silently); keep one",
            ) from None
        except yaml.YAMLError:
            continue  # Snakemake has read the file already and reports its syntax errors itself


def type_command_line_strings(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Replace each string the schema rejects by its YAML reading, where that is not a string.

    ``--config 'm={i: {layer: 2}}'`` arrives as ``{"i": {"layer": "2"}}`` (Snakemake parses nested
    values with YAML's base loader, which keeps every scalar a string), and so do list items
    (``layers: [5, middle]`` as ``["5", "middle"]``). Strings the schema accepts (a target ``" 2"``, a
    name) are never touched.
    """
    validator = jsonschema.Draft202012Validator(schema)
    for _ in range(100):  # each pass types the strings the schema rejects; a typed null may uncover more
        changed = False
        for error in _with_sub_errors(validator.iter_errors(config)):
            if not isinstance(error.instance, str) or not error.absolute_path:
                continue
            try:
                value = yaml.safe_load(error.instance)
            except yaml.YAMLError:
                continue
            if not isinstance(value, str):
                *parents, last = error.absolute_path
                container = config
                for part in parents:
                    container = container[part]
                container[last], changed = value, True
        if not changed:
            return


def _with_sub_errors(errors):
    """Each error, then the errors under it: a value inside ``oneOf``/``anyOf`` (a layer list
    ``[5, middle]``, a model entry) fails there, and only its branches' errors reach the string."""
    for error in errors:
        yield error
        yield from _with_sub_errors(error.context or ())


def remove_null_instances(config: dict[str, Any]) -> None:
    """Drop the instances an overlay set to ``null``; a method set to ``null`` has no instances."""
    for method in METHODS:
        section = config.get(method)
        if section is None and method in config:
            config[method] = {}
        elif isinstance(section, dict):
            for name in [name for name, instance in section.items() if instance is None]:
                del section[name]


def instances(config: dict[str, Any], method: str) -> dict[str, dict[str, Any]]:
    """``instance name -> instance`` of ``method`` (after :func:`validate_config`)."""
    return config.get(method) or {}


def sorted_mappings(value: Any) -> Any:
    """``value`` with the keys of every mapping in it sorted, at every depth (lists keep their order)."""
    if isinstance(value, dict):
        return {key: sorted_mappings(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_mappings(item) for item in value]
    return value


def canonicalize_entries(config: dict[str, Any]) -> None:
    """Each entry of each top-level mapping (``config[section][name]``) in :func:`sorted_mappings`
    form, in place; the entries keep their order."""
    for section in config.values():
        if isinstance(section, dict):
            for name, entry in section.items():
                section[name] = sorted_mappings(entry)

"""The configuration against its JSON schema: every default filled in, the most relevant violation reported
as one :class:`ConfigError` that names the key and the fix.

The schema is ``schemas/config.schema.yaml`` with each registered method's ``schemas/methods/<method>.yaml``
(:func:`interpflow.runtime.schema.workflow_schema`), the one place that defines defaults.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

import jsonschema

from interpflow.registry import METHODS
from interpflow.runtime.errors import ConfigError
from interpflow.runtime.schema import workflow_schema


def load_schema() -> dict[str, Any]:
    """The configuration schema of the registered methods (:func:`interpflow.runtime.schema.workflow_schema`)."""
    return workflow_schema(METHODS)


def _dotted(path) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def _filling_defaults(validator_class):
    """``validator_class`` that also sets each missing property to a copy of its schema ``default``.

    The recipe from the jsonschema FAQ: defaults are set while ``properties`` is validated, so a
    default mapping (``plot: {}``) is then filled with its own properties' defaults.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


DefaultFillingValidator = _filling_defaults(jsonschema.Draft202012Validator)


def check_schema(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Fill in defaults; raise :class:`ConfigError` for the most relevant schema violation, if any."""
    validator = DefaultFillingValidator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        unknown = sorted(set(error.instance) - set(known))
        if unknown:
            problem = f"unknown key{did_you_mean(unknown[0], known)}; see docs/configuration-reference.md"
            raise ConfigError(_dotted([*error.path, unknown[0]]), problem)
    if error.validator == "additionalProperties":
        raise ConfigError(_dotted(error.path), f"{error.message}; see docs/configuration-reference.md")
    if _within_layer_option(error):
        raise ConfigError(_dotted(error.absolute_path), f"{error.instance!r} is not a layer: {LAYER_HINT}")
    raise ConfigError(_dotted(error.absolute_path), error.message)


def did_you_mean(key: str, known) -> str:
    """`` (did you mean 'epochs'?)`` for the known key closest to a misspelled one (difflib), or one it
    begins (``clip`` -> ``clip_threshold``), else ``""``."""
    names = [str(name) for name in known]
    close = difflib.get_close_matches(key, names, n=1) or sorted(name for name in names if name.startswith(key))
    return f" (did you mean {close[0]!r}?)" if close else ""


LAYER_HINT = (
    "a layer is a block index from 0 (the first block) to n_layer - 1 of each model, or 'middle' (n_layer // 2)"
)


def _within_layer_option(error) -> bool:
    """True when the failing value is a layer (the schema's ``layer`` definition, maybe in a list)."""
    while error is not None:
        if isinstance(error.schema, dict) and str(error.schema.get("description", "")).startswith("a block index"):
            return True
        error = error.parent
    return False

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
    if not _within_layer_option(error):  # a layer's message is the layer hint, whichever branch failed
        error = best_branch_error(error)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        unknown = sorted(set(error.instance) - set(known))
        if unknown:
            problem = f"unknown key{did_you_mean(unknown[0], known)}; see docs/configuration-reference.md"
            raise ConfigError(_dotted([*error.absolute_path, unknown[0]]), problem)
    if error.validator == "additionalProperties":
        raise ConfigError(_dotted(error.absolute_path), f"{error.message}; see docs/configuration-reference.md")
    if _within_layer_option(error):
        raise ConfigError(_dotted(error.absolute_path), f"{error.instance!r} is not a layer: {LAYER_HINT}")
    if (unsweepable := _unsweepable_list(error, schema)) is not None:
        raise ConfigError(_dotted(error.absolute_path), unsweepable)
    raise ConfigError(_dotted(error.absolute_path), _problem(error))


def best_branch_error(error):
    """For a value that fits none of a ``oneOf``/``anyOf``'s branches (a model entry of any ``source``, an SAE
    entry), the error of the branch it was meant for, descending through nested ones: the branches whose
    discriminating key (a ``const``, such as ``source``) matched, then the one with the fewest errors at the
    value itself (a missing or unknown key), then the fewest errors."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[int, list] = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0], []).append(sub)

        def fit(errors):
            const = sum(sub.validator == "const" for sub in errors)
            kind = sum(sub.validator == "type" and not sub.relative_path for sub in errors)
            at_value = sum(not sub.relative_path for sub in errors)
            return const, kind, at_value, len(errors)

        chosen = min(branches.values(), key=fit)
        if fit(chosen)[:2] != (0, 0) and not isinstance(error.instance, dict):
            break  # a value of a kind no branch takes: the choices are the message (_problem)
        error = jsonschema.exceptions.best_match(chosen)
    return error


def _problem(error) -> str:
    """The message of one schema error, the allowed values of an ``enum`` listed plainly."""
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(str(value) for value in error.validator_value)}"
    if error.validator == "const":
        return f"{error.instance!r} is not {error.validator_value!r}"
    if error.validator in ("oneOf", "anyOf"):
        return f"{error.instance!r} is none of: {'; '.join(_kind(branch) for branch in error.validator_value)}"
    return error.message


def _kind(schema: dict[str, Any]) -> str:
    """One branch of a ``oneOf``/``anyOf`` in words: ``integer (minimum 1)``, ``'middle'``, ``null``."""
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(str(value) for value in schema["enum"])
    kind = str(schema.get("type", "a value"))
    bounds = [
        f"{name} {schema[name]}" for name in ("minimum", "exclusiveMinimum", "maximum", "minItems") if name in schema
    ]
    return f"{kind} ({', '.join(bounds)})" if bounds else kind


def _unsweepable_list(error, schema: dict[str, Any]) -> str | None:
    """The message for a list given to an instance's ``sae`` option that cannot be swept (``None`` otherwise)."""
    path = list(error.absolute_path)
    if not isinstance(error.instance, list) or len(path) != 4 or path[2] != "sae" or path[0] not in METHODS:
        return None
    options = schema["$defs"][path[0]]["properties"].get("sae", {}).get("properties", {})
    sweepable = [
        name
        for name, option in options.items()
        if any(branch.get("type") == "array" for branch in option.get("anyOf", []))
    ]
    if path[3] in sweepable:
        return None  # a sweep, wrong in another way (empty, repeated values)
    can = f"the options that can: {', '.join(sweepable)}" if sweepable else f"none of {path[0]}'s sae options can"
    return f"{error.instance!r}: a list is a sweep, and {path[3]} cannot be swept ({can}); give one value"


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

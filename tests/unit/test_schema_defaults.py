"""Defaults live in one place, the configuration schema: every default written in code equals it.

Each row below pairs code that takes a section's options with that section of the schema; a
parameter or dataclass field of the same name (or the one mapped) that has a default must have the
schema's. A benchmark or test that builds these objects by hand then trains, samples and batches
exactly as a workflow run that leaves the option out.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from interpflow.methods.repeated_token_mi import analysis as repeated_token_mi
from interpflow.methods.repeated_token_mi import mutual_information
from interpflow.methods.streaming_sae import evaluation as sae_interpretation
from interpflow.methods.subspace_removal import interventions
from interpflow.methods.subspace_removal.subspace import inspection_matrices, remove_top_components
from interpflow.runtime.schema import option_defaults
from interpflow.sae.core import streaming as streaming_sae
from interpflow.stores import shard_extraction

# (code, schema section, {parameter: option} where the names differ)
CODE_WITH_OPTIONS = [
    (streaming_sae.StreamingSchedule, "streaming_sae.sae", {}),
    (sae_interpretation.evaluate, "streaming_sae.interpretation", {}),
    (interventions.run_interventions, "subspace_removal", {}),
    (interventions.sweep_from_cache, "subspace_removal", {}),
    (remove_top_components, "subspace_removal", {}),
    (inspection_matrices, "subspace_removal", {}),
    (repeated_token_mi.pairwise_mi_table, "repeated_token_mi", {}),
    (mutual_information.histogram_mutual_information, "repeated_token_mi", {}),
    (mutual_information.trimmed_histogram_mutual_information, "repeated_token_mi", {}),
    (mutual_information.knn_mutual_information, "repeated_token_mi.knn", {}),
    (shard_extraction.extract_shard, "extraction", {"batch_size": "batch_windows"}),
]


def code_defaults(code) -> dict[str, object]:
    """``name -> default`` of a dataclass's fields or a function's parameters that have one."""
    if dataclasses.is_dataclass(code):
        return {
            field.name: field.default for field in dataclasses.fields(code) if field.default is not dataclasses.MISSING
        }
    return {
        name: parameter.default
        for name, parameter in inspect.signature(code).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


@pytest.mark.parametrize(
    "code, section, renamed", CODE_WITH_OPTIONS, ids=lambda value: getattr(value, "__qualname__", None)
)
def test_every_code_default_is_the_schemas(code, section, renamed):
    defaults = option_defaults(section)
    checked = 0
    for name, default in code_defaults(code).items():
        option = renamed.get(name, name)
        if option not in defaults:
            continue
        assert default == defaults[option], (
            f"{code.__qualname__}({name}={default!r}) but the schema's {section}.{option} default is "
            f"{defaults[option]!r}; take it from interpflow.schema.option_defaults"
        )
        checked += 1
    assert checked, f"{code.__qualname__} has no default of {section} left to check: remove its row"


def test_the_check_catches_a_default_that_differs():
    """The case that made this test: the streaming SAE's config trained at 1e-4 where the schema says 4e-4."""

    @dataclasses.dataclass
    class Drifted:
        learning_rate: float = 1e-4

    with pytest.raises(AssertionError, match="the schema's streaming_sae.sae.learning_rate default is 0.0004"):
        test_every_code_default_is_the_schemas(Drifted, "streaming_sae.sae", {})


def test_option_defaults_reads_nested_sections():
    assert option_defaults("streaming_sae.sae")["learning_rate"] == 0.0004
    assert option_defaults("neuron_contrast.tsne") == {"perplexity": 30, "seed": 0}
    assert "models" not in option_defaults("subspace_removal")  # required options have no default
    assert option_defaults("extraction") == {"batch_windows": 32}  # a top-level section


def sections(node: dict, path: str):
    """``(section, its properties)`` of every object of options in a schema node, nested ones included."""
    properties = node.get("properties", {})
    if properties:
        yield path, properties
    for option, spec in properties.items():
        yield from sections(spec, f"{path}.{option}")


def unambiguous_defaults() -> dict[str, tuple[str, object]]:
    """``option -> (section, default)`` for the options whose name occurs in one section of the schema
    only, and which have a default there (``batch_size``, ``seed`` or ``k`` mean different things in
    different sections: the table above checks those)."""
    from interpflow.config import load_schema

    schema = load_schema()
    found: dict[str, list[tuple[str, dict]]] = {}
    for name, node in [*schema["$defs"].items(), *schema["properties"].items()]:
        for section, properties in sections(node, name):
            for option, spec in properties.items():
                found.setdefault(option, []).append((section, spec))
    return {
        option: (places[0][0], places[0][1]["default"])
        for option, places in found.items()
        if len(places) == 1 and "default" in places[0][1]
    }


def test_no_function_or_dataclass_of_the_package_restates_a_default_differently():
    """Beyond the table: anywhere in the package, a parameter named after an option that only one
    section of the schema has (``token_budget``, ``perplexity``, ``top_k``, ...) defaults to the schema's."""
    import importlib
    import pkgutil

    import interpflow

    options = unambiguous_defaults()
    assert {"token_budget", "perplexity", "top_k", "context_before"} <= set(options)
    differing = []
    for module_info in pkgutil.walk_packages(interpflow.__path__, "interpflow."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if getattr(value, "__module__", None) != module.__name__:
                continue
            members = (
                [value] + [m for m in vars(value).values() if inspect.isfunction(m)]
                if inspect.isclass(value)
                else [value]
            )
            for code in members:
                if not (inspect.isfunction(code) or dataclasses.is_dataclass(code)):
                    continue
                for parameter, default in code_defaults(code).items():
                    if parameter in options and default != options[parameter][1]:
                        differing.append(
                            f"{module.__name__}.{code.__qualname__}({parameter}={default!r}): "
                            f"the schema's {options[parameter][0]}.{parameter} is {options[parameter][1]!r}"
                        )
    assert not differing, "\n".join(differing)

"""The methods of the workflow, by config section name: one line each.

A method is the package ``interpflow.methods.<name>``; its ``method`` module defines ``METHOD``, an
instance of :class:`interpflow.methods.contract.Method` (the contract: every function the workflow
calls). Registering a method is adding its name here; the Snakefile includes ``rules/<name>.smk`` and
builds its targets, and the config loader adds ``schemas/methods/<name>.yaml``, for every name.
"""

from __future__ import annotations

from importlib import import_module

from interpflow.methods.contract import Method

METHOD_NAMES = [
    "subspace_removal",
    "neuron_contrast",
    "repeated_token_mi",
    "sparse_autoencoder",
    "residual_decomposition",
    "streaming_sae",
    "activation_patching",
    "logit_lens",
    "direct_logit_attribution",
    "attribution_patching",
    "edge_attribution_patching",
]


def _load(name: str) -> Method:
    method = import_module(f"interpflow.methods.{name}.method").METHOD
    if not isinstance(method, Method) or method.name != name:
        raise TypeError(f"interpflow.methods.{name}.method.METHOD must be a Method named {name!r}, got {method!r}")
    return method


METHODS: dict[str, Method] = {name: _load(name) for name in METHOD_NAMES}


def required_sites(config: dict, model: str, text: str, kind: str = "text") -> list[str]:
    """Every site that any instance of any method running on ``model`` over ``text`` (a text set, or
    a corpus when ``kind`` is ``"corpus"``) needs."""
    from interpflow.models.sites import sort_sites

    n_layer = config["models"][model]["n_layer"]
    sites: list[str] = []
    for name, method in METHODS.items():
        if method.input_kind != kind:
            continue
        for instance in (config.get(name) or {}).values():
            if model in instance["models"] and instance[kind] == text:
                sites += method.required_sites(instance, n_layer)
    return sort_sites(sites)

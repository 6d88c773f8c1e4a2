"""The methods of the workflow, by config section name.

Every method module exposes two functions the workflow uses while building the DAG (neither
loads a model), both for one instance (one entry of the method's config section):

- ``configured_layers(instance, n_layer) -> [(option, layer), ...]``: layers to check against each model;
- ``required_sites(instance, n_layer) -> [site, ...]``: what the activation store of the
  instance's text must hold for it;

An instance reads a text set (``text``) or, for a method with ``INPUT = "corpus"``, a corpus
(``corpus``). Optionally a method has ``check_text(instance, key, tokenized)``, which raises
:class:`interpflow.errors.ConfigError` when the text does not suit the instance (``key`` is the
instance's config key, ``tokenized`` an :class:`interpflow.config.TokenizedTexts`).
"""

from interpflow.methods import (
    neuron_contrast,
    repeated_token_mi,
    residual_decomposition,
    sparse_autoencoder,
    streaming_sae,
    subspace_removal,
)

METHODS = {
    "subspace_removal": subspace_removal,
    "neuron_contrast": neuron_contrast,
    "repeated_token_mi": repeated_token_mi,
    "sparse_autoencoder": sparse_autoencoder,
    "residual_decomposition": residual_decomposition,
    "streaming_sae": streaming_sae,
}


def input_kind(method) -> str:
    """``"text"`` or ``"corpus"``: the config section an instance of ``method`` reads from."""
    return getattr(method, "INPUT", "text")


def required_sites(config: dict, model: str, text: str, kind: str = "text") -> list[str]:
    """Every site that any instance of any method running on ``model`` over ``text`` (a text set, or
    a corpus when ``kind`` is ``"corpus"``) needs."""
    from interpflow.sites import sort_sites

    n_layer = config["models"][model]["n_layer"]
    sites: list[str] = []
    for name, method in METHODS.items():
        if input_kind(method) != kind:
            continue
        for instance in (config.get(name) or {}).values():
            if model in instance["models"] and instance[kind] == text:
                sites += method.required_sites(instance, n_layer)
    return sort_sites(sites)

"""The methods of the workflow, by config section name.

Every method module exposes two functions the workflow uses while building the DAG (neither
loads a model), both for one instance (one entry of the method's config section):

- ``configured_layers(instance, n_layer) -> [(option, layer), ...]``: layers to check against each model;
- ``required_sites(instance, n_layer) -> [site, ...]``: what the activation store of the
  instance's text must hold for it;

and optionally ``check_text(instance, key, tokenized)``, which raises
:class:`interpflow.errors.ConfigError` when the text does not suit the instance (``key`` is the
instance's config key, ``tokenized`` an :class:`interpflow.config.TokenizedTexts`).
"""

from interpflow.methods import (
    neuron_contrast,
    repeated_token_mi,
    residual_decomposition,
    sparse_autoencoder,
    subspace_removal,
)

METHODS = {
    "subspace_removal": subspace_removal,
    "neuron_contrast": neuron_contrast,
    "repeated_token_mi": repeated_token_mi,
    "sparse_autoencoder": sparse_autoencoder,
    "residual_decomposition": residual_decomposition,
}


def required_sites(config: dict, model: str, text: str) -> list[str]:
    """Every site that any instance of any method running on ``model`` over ``text`` needs."""
    from interpflow.sites import sort_sites

    n_layer = config["models"][model]["n_layer"]
    sites: list[str] = []
    for name, method in METHODS.items():
        for instance in (config.get(name) or {}).values():
            if model in instance["models"] and instance["text"] == text:
                sites += method.required_sites(instance, n_layer)
    return sort_sites(sites)

"""The analyses of the workflow, by config section name.

Every analysis module exposes two functions the workflow uses while building the DAG (neither
loads a model):

- ``configured_layers(section, n_layer) -> [(key, layer), ...]``: layers to check against each model;
- ``required_sites(section, n_layer) -> {text_name: [site, ...]}``: what the activation store
  of each text must hold for this analysis;

and optionally ``check_text(section, section_name, tokenized)``, which raises
:class:`interpflow.errors.ConfigError` when the text does not suit the analysis (``tokenized`` is
an :class:`interpflow.config.TokenizedTexts`).
"""

from interpflow.analyses import coffee_mi, hooks_vs_hidden, neuron_clusters, palinka_sae, subspace_removal

ANALYSES = {
    "subspace_removal": subspace_removal,
    "neuron_clusters": neuron_clusters,
    "coffee_mi": coffee_mi,
    "palinka_sae": palinka_sae,
    "hooks_vs_hidden": hooks_vs_hidden,
}


def required_sites(config: dict, model: str, text: str) -> list[str]:
    """Every site that any analysis running on ``model`` needs from the store of ``text``."""
    from interpflow.sites import sort_sites

    n_layer = config["models"][model]["n_layer"]
    sites: list[str] = []
    for name, analysis in ANALYSES.items():
        section = config[name]
        if model in section["models"]:
            sites += analysis.required_sites(section, n_layer).get(text, [])
    return sort_sites(sites)

# interpflow: mechanistic-interpretability analyses of GPT-2 as one DAG.
#
#   snakemake --cores 2 --configfile overlays/embedded.yaml   # everything, embedded model, offline
#   snakemake --cores 2                                       # the real models (hub or HF cache)
#   snakemake hooks_vs_hidden --cores 2                       # one analysis
#
# Stages: models -> activations (one forward pass per model and text) -> statistics -> figures.


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/activations.smk"
include: "rules/subspace_removal.smk"
include: "rules/neuron_clusters.smk"
include: "rules/coffee_mi.smk"
include: "rules/palinka_sae.smk"
include: "rules/hooks_vs_hidden.smk"


rule all:
    default_target: True
    input:
        subspace_removal_outputs(),
        neuron_clusters_outputs(),
        coffee_mi_outputs(),
        palinka_sae_outputs(),
        hooks_vs_hidden_outputs(),

# interpflow: mechanistic-interpretability analyses of GPT-2 as one DAG.
#
#   snakemake --cores 2 --configfile overlays/embedded.yaml   # everything, embedded model, offline
#   snakemake --cores 2                                       # the real models (hub or HF cache)
#   snakemake hooks_vs_hidden --cores 2                       # one analysis
#   snakemake figures --cores 2                               # redraw every figure
#   snakemake --report report.html                            # browsable report of a finished run
#
# Stages: models -> activations (one forward pass per model and text) -> statistics -> figures.


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/activations.smk"
include: "rules/subspace_removal.smk"
include: "rules/neuron_clusters.smk"
include: "rules/coffee_mi.smk"
include: "rules/palinka_sae.smk"
include: "rules/hooks_vs_hidden.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        workflow_outputs(),


# Every figure (and table view), redrawn from the cached tables and activations: after a change to
# plotting code or plot parameters only these jobs run, and no model is loaded.
rule figures:
    input:
        [path for path in workflow_outputs() if re.search("/(figures|tables)/", path)],

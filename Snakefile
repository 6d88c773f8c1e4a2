# interpflow: mechanistic-interpretability methods, each with named instances, as one DAG.
#
#   snakemake --cores 2 --configfile overlays/embedded.yaml   # everything, embedded model, offline
#   snakemake --cores 2                                       # the lecture instances on the real models
#   snakemake repeated_token_mi --cores 2                     # one method: its instances and comparison
#   snakemake repeated_token_mi__coffee --cores 2             # one instance of a method
#   snakemake figures --cores 2                               # redraw every figure
#   snakemake --report report.html                            # browsable report of a finished run
#
# Stages: models -> activations (one forward pass per model and text; per model and corpus, one
# job per shard) -> statistics or SAE training -> figures, and per method a comparison of its
# instances and models.


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/activations.smk"
include: "rules/corpora.smk"


# Each registered method (src/interpflow/registry.py) brings its rules.
for _method in METHODS:

    include: f"rules/{_method}.smk"


include: "rules/comparisons.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        workflow_outputs(),
        "results/resolved_config.yaml",


# Every figure (and table view), redrawn from the cached tables and activations: after a change to
# plotting code or plot parameters only these jobs run, and no model is loaded.
rule figures:
    input:
        figure_outputs_only(),


# Targets: `snakemake <method>` (every instance and the comparison) and `snakemake <method>__<instance>`
# (for a sweep, every point of it).
for _method in METHODS:

    rule:
        name:
            _method
        input:
            method_targets(_method),

    # one target per instance as the config names it: a sweep's target makes every point of it
    for _name, _points in instances_by_sweep(_method).items():

        rule:
            name:
                f"{_method}__{_name}"
            input:
                method_outputs(_method, _points),
                table_views(_method, _points),

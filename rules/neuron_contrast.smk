# neuron_contrast: MLP neurons (neuron_site, default blocks.L.mlp.hook_pre) at each text's target word, two groups of texts:
# t-tests per neuron, then t-SNE, DBSCAN and k-means of the significant neurons.
from interpflow.methods.neuron_contrast.method import (
    LAYER_FIGURES as NC_FIGURES,
    TABLES as NC_TABLES,
    group_names,
)

NC_RUN = RUN.format(method="neuron_contrast")
NC_LOGS = RUN_LOGS.format(method="neuron_contrast")


rule neuron_contrast_statistics:
    input:
        unpack(instance_store("neuron_contrast")),
        text=instance_text("neuron_contrast"),
        code=code("scripts/neuron_contrast_statistics.py"),
    output:
        **{name: f"{NC_RUN}/{file}" for name, file in NC_TABLES.items()},
    log:
        f"{NC_LOGS}/statistics.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        options=instance_options("neuron_contrast", leave_out=("models", "plot")),
        columns=instance_text_options("neuron_contrast", "text_column", "group_column"),
        n_layer=instance_n_layer,
    script:
        "../scripts/neuron_contrast_statistics.py"


rule neuron_contrast_figures:
    input:
        neuron_tests=f"{NC_RUN}/neuron_tests.parquet",
        neuron_clusters=f"{NC_RUN}/neuron_clusters.parquet",
        activations=f"{NC_RUN}/target_activations.safetensors",
        code=code("scripts/neuron_contrast_figures.py"),
    output:
        **figure_outputs(
            "neuron_contrast",
            f"{NC_RUN}/figures/layer{{layer}}",
            *NC_FIGURES,
            layer="{layer}",
        ),
    log:
        f"{NC_LOGS}/figures_layer{{layer}}.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        groups=lambda wildcards: group_names(instance("neuron_contrast", wildcards)),
        correction=lookup(dpath="neuron_contrast/{instance}/correction", within=config),
        plot=lookup(dpath="neuron_contrast/{instance}/plot", within=config),
        neuron_site=lookup(
            dpath="neuron_contrast/{instance}/neuron_site", within=config
        ),
    script:
        "../scripts/neuron_contrast_figures.py"


rule neuron_contrast_sweep_figure:
    input:
        neuron_tests=f"{NC_RUN}/neuron_tests.parquet",
        neuron_clusters=f"{NC_RUN}/neuron_clusters.parquet",
        code=code("scripts/neuron_contrast_sweep_figure.py"),
    output:
        **figure_outputs(
            "neuron_contrast", f"{NC_RUN}/figures", "layer_sweep", layer="all"
        ),
    log:
        f"{NC_LOGS}/sweep_figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    script:
        "../scripts/neuron_contrast_sweep_figure.py"

# neuron_contrast: MLP neurons (neuron_site, default blocks.L.mlp.hook_pre) at each text's target word, two groups of texts:
# t-tests per neuron, then t-SNE, DBSCAN and k-means of the significant neurons.


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
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        options=neuron_contrast_statistics_options,
        columns=neuron_contrast_text_columns,
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
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        groups=lambda wildcards: METHODS["neuron_contrast"].group_names(
            instance("neuron_contrast", wildcards)
        ),
        correction=instance_option("neuron_contrast", "correction"),
        plot=instance_option("neuron_contrast", "plot"),
        neuron_site=instance_option("neuron_contrast", "neuron_site"),
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
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    script:
        "../scripts/neuron_contrast_sweep_figure.py"


rule neuron_contrast_comparison:
    input:
        tables=run_paths("neuron_contrast", ["neuron_tests.parquet"]),
        code=code("scripts/neuron_contrast_comparison.py"),
    output:
        **comparison_outputs("neuron_contrast"),
    log:
        "logs/neuron_contrast/comparison.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        runs=comparison_runs("neuron_contrast"),
    script:
        "../scripts/neuron_contrast_comparison.py"

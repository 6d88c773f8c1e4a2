# neuron_clusters (seed 001): h.L.mlp.c_fc at the target token of "him" and "her" sentences:
# t-tests per neuron, then t-SNE, DBSCAN and k-means of the significant neurons.


rule neuron_clusters:
    input:
        neuron_clusters_outputs(),


rule neuron_clusters_statistics:
    input:
        unpack(neuron_clusters_store),
        text=lambda wildcards: workflow_path(config["texts"][NC["text"]]["path"]),
        code=code("scripts/neuron_clusters_statistics.py"),
    output:
        neuron_tests="results/neuron_clusters/{model}/neuron_tests.parquet",
        neuron_clusters="results/neuron_clusters/{model}/neuron_clusters.parquet",
        cluster_summary="results/neuron_clusters/{model}/cluster_summary.parquet",
        activations="results/neuron_clusters/{model}/target_activations.safetensors",
    log:
        "logs/neuron_clusters/{model}/statistics.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        section=neuron_clusters_statistics_section(),
        column=config["texts"][NC["text"]].get("column"),
        n_layer=lambda wildcards: n_layer(wildcards.model),
    script:
        "../scripts/neuron_clusters_statistics.py"


rule neuron_clusters_figures:
    input:
        neuron_tests="results/neuron_clusters/{model}/neuron_tests.parquet",
        neuron_clusters="results/neuron_clusters/{model}/neuron_clusters.parquet",
        activations="results/neuron_clusters/{model}/target_activations.safetensors",
        code=code("scripts/neuron_clusters_figures.py"),
    output:
        **figure_outputs(
            "neuron_clusters",
            "results/neuron_clusters/{model}/figures/layer{layer}",
            *NC_FIGURES,
            layer="{layer}",
        ),
    log:
        "logs/neuron_clusters/{model}/figures_layer{layer}.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        groups=list(NC["targets"]),
        correction=NC["correction"],
        plot=NC["plot"],
    script:
        "../scripts/neuron_clusters_figures.py"


rule neuron_clusters_sweep_figure:
    input:
        neuron_tests="results/neuron_clusters/{model}/neuron_tests.parquet",
        neuron_clusters="results/neuron_clusters/{model}/neuron_clusters.parquet",
        code=code("scripts/neuron_clusters_sweep_figure.py"),
    output:
        **figure_outputs(
            "neuron_clusters",
            "results/neuron_clusters/{model}/figures",
            "layer_sweep",
            layer="all",
        ),
    log:
        "logs/neuron_clusters/{model}/sweep_figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    script:
        "../scripts/neuron_clusters_sweep_figure.py"

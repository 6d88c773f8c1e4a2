# coffee_mi (seed 002): MI between the attention / MLP output vectors of repeated target tokens,
# against token distance and across layers, with two estimators.


rule coffee_mi:
    input:
        coffee_mi_outputs(),


rule coffee_mi_statistics:
    input:
        unpack(coffee_mi_store),
        code=code("scripts/coffee_mi_statistics.py"),
    output:
        **{table: f"results/coffee_mi/{{model}}/{table}.parquet" for table in MI_TABLES},
    log:
        "logs/coffee_mi/{model}/statistics.log",
    conda:
        "../envs/analysis.yaml"
    threads: MI["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        section=coffee_mi_statistics_section(),
        n_layer=lambda wildcards: n_layer(wildcards.model),
    script:
        "../scripts/coffee_mi_statistics.py"


rule coffee_mi_figures:
    input:
        **{table: f"results/coffee_mi/{{model}}/{table}.parquet" for table in MI_TABLES},
        code=code("scripts/coffee_mi_figures.py"),
    output:
        **figure_outputs("coffee_mi", "results/coffee_mi/{model}/figures", *MI_FIGURES),
    log:
        "logs/coffee_mi/{model}/figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        layer=MI["layer"],
        sublayer=MI["sublayer"],
        outlier_threshold=MI["outlier_threshold"],
    script:
        "../scripts/coffee_mi_figures.py"

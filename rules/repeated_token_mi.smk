# repeated_token_mi: MI between the attention / MLP output vectors of the occurrences of a repeated
# token, against token distance and across layers, with two estimators.


rule repeated_token_mi_statistics:
    input:
        unpack(instance_store("repeated_token_mi")),
        code=code("scripts/repeated_token_mi_statistics.py"),
    output:
        **{table: f"{MI_RUN}/{table}.parquet" for table in MI_TABLES},
    log:
        f"{MI_LOGS}/statistics.log",
    conda:
        "../envs/analysis.yaml"
    threads: lambda wildcards: instance("repeated_token_mi", wildcards)["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        options=repeated_token_mi_statistics_options,
        layer=repeated_token_mi_layer,
        n_layer=instance_n_layer,
    script:
        "../scripts/repeated_token_mi_statistics.py"


rule repeated_token_mi_figures:
    input:
        **{table: f"{MI_RUN}/{table}.parquet" for table in MI_TABLES},
        code=code("scripts/repeated_token_mi_figures.py"),
    output:
        **figure_outputs("repeated_token_mi", f"{MI_RUN}/figures", *MI_FIGURES),
    log:
        f"{MI_LOGS}/figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        layer=repeated_token_mi_layer,
        sublayer=instance_option("repeated_token_mi", "sublayer"),
        outlier_threshold=instance_option("repeated_token_mi", "outlier_threshold"),
    script:
        "../scripts/repeated_token_mi_figures.py"


rule repeated_token_mi_comparison:
    input:
        tables=run_paths("repeated_token_mi", ["layer_summary.parquet"]),
        code=code("scripts/repeated_token_mi_comparison.py"),
    output:
        **comparison_outputs("repeated_token_mi"),
    log:
        "logs/repeated_token_mi/comparison.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        runs=comparison_runs("repeated_token_mi"),
    script:
        "../scripts/repeated_token_mi_comparison.py"

# residual_decomposition: the residual identity, resid[L+1] = resid[L] + attention update + MLP update.


rule residual_decomposition_statistics:
    input:
        unpack(instance_store("residual_decomposition")),
        code=code("scripts/residual_decomposition_statistics.py"),
    output:
        correlations=f"{RD_RUN}/correlations.parquet",
        values=f"{RD_RUN}/comparison_values.parquet",
    log:
        f"{RD_LOGS}/statistics.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        layers=residual_decomposition_layers,
        figure_layer=residual_decomposition_figure_layer,
        clip_threshold=instance_option("residual_decomposition", "clip_threshold"),
        n_layer=instance_n_layer,
    script:
        "../scripts/residual_decomposition_statistics.py"


rule residual_decomposition_decomposition_figure:
    input:
        correlations=f"{RD_RUN}/correlations.parquet",
        values=f"{RD_RUN}/comparison_values.parquet",
        code=code("scripts/residual_decomposition_figures.py"),
    output:
        **figure_outputs("residual_decomposition", f"{RD_RUN}/figures", "decomposition"),
    log:
        f"{RD_LOGS}/decomposition_figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        figure_layer=residual_decomposition_figure_layer,
        plot=instance_option("residual_decomposition", "plot"),
    script:
        "../scripts/residual_decomposition_figures.py"


rule residual_decomposition_layer_profile_figure:
    input:
        correlations=f"{RD_RUN}/correlations.parquet",
        code=code("scripts/residual_decomposition_layer_profile.py"),
    output:
        **figure_outputs("residual_decomposition", f"{RD_RUN}/figures", "layer_profile"),
    log:
        f"{RD_LOGS}/layer_profile_figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    script:
        "../scripts/residual_decomposition_layer_profile.py"


rule residual_decomposition_comparison:
    input:
        tables=run_paths("residual_decomposition", ["correlations.parquet"]),
        code=code("scripts/residual_decomposition_comparison.py"),
    output:
        **comparison_outputs("residual_decomposition"),
    log:
        "logs/residual_decomposition/comparison.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        runs=comparison_runs("residual_decomposition"),
    script:
        "../scripts/residual_decomposition_comparison.py"

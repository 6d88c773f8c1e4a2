# residual_decomposition: the residual identity, resid[L+1] = resid[L] + attention update + MLP update.
from interpflow.methods.residual_decomposition.method import analysis_layers

RD_RUN = RUN.format(method="residual_decomposition")
RD_LOGS = RUN_LOGS.format(method="residual_decomposition")


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
        **CPU_RESOURCES,
    params:
        layers=per_run("residual_decomposition", analysis_layers),
        figure_layer=instance_layer("residual_decomposition", "layer"),
        clip_threshold=lookup(
            dpath="residual_decomposition/{instance}/clip_threshold", within=config
        ),
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
        **CPU_RESOURCES,
    params:
        figure_layer=instance_layer("residual_decomposition", "layer"),
        plot=lookup(dpath="residual_decomposition/{instance}/plot", within=config),
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
        **CPU_RESOURCES,
    script:
        "../scripts/residual_decomposition_layer_profile.py"

# repeated_token_mi: MI between the attention / MLP output vectors of the occurrences of a repeated
# token, against token distance and across layers, with two estimators.
from interpflow.methods.repeated_token_mi.method import (
    FIGURES as MI_FIGURES,
    TABLES as MI_TABLES,
)

MI_RUN = RUN.format(method="repeated_token_mi")
MI_LOGS = RUN_LOGS.format(method="repeated_token_mi")


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
        **CPU_RESOURCES,
    params:
        options=instance_options("repeated_token_mi"),
        layer=instance_layer("repeated_token_mi", "layer"),
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
        **CPU_RESOURCES,
    params:
        layer=instance_layer("repeated_token_mi", "layer"),
        sublayer=lookup(dpath="repeated_token_mi/{instance}/sublayer", within=config),
        outlier_threshold=lookup(
            dpath="repeated_token_mi/{instance}/outlier_threshold", within=config
        ),
    script:
        "../scripts/repeated_token_mi_figures.py"

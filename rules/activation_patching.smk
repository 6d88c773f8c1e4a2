# activation_patching: the clean prompts' activations (their activation store) patched into the
# corrupted prompts' runs, site by site, block by block; how much of the answer's logit difference each restores.
AP_RUN = RUN.format(method="activation_patching")
AP_LOGS = RUN_LOGS.format(method="activation_patching")


rule activation_patching_patch:
    input:
        unpack(instance_store("activation_patching")),
        pairs=instance_text("activation_patching"),
        model=model_input,
        code=code("scripts/activation_patching_patch.py"),
    output:
        patching=f"{AP_RUN}/patching.parquet",
        by_pair=f"{AP_RUN}/patching_by_pair.parquet",
        pairs=f"{AP_RUN}/pairs.parquet",
    log:
        f"{AP_LOGS}/patch.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        options=instance_options("activation_patching"),
        text_options=instance_text_options("activation_patching", "text_column"),
        n_layer=instance_n_layer,
        model_dtype=model_dtype,
        device=config["device"],
    script:
        "../scripts/activation_patching_patch.py"


rule activation_patching_figure:
    input:
        patching=f"{AP_RUN}/patching.parquet",
        tokens=lambda wildcards: instance_store("activation_patching")(wildcards)[
            "tokens"
        ],
        code=code("scripts/activation_patching_figure.py"),
    output:
        **figure_outputs("activation_patching", f"{AP_RUN}/figures", "patching"),
    log:
        f"{AP_LOGS}/figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    script:
        "../scripts/activation_patching_figure.py"

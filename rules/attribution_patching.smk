# attribution_patching: activation patching's scores estimated from one backward pass of each corrupted
# prompt, the clean prompts' activations read from their activation store; against the patched scores
# of an activation_patching instance on the same pairs where one is named.
ATP_RUN = RUN.format(method="attribution_patching")
ATP_LOGS = RUN_LOGS.format(method="attribution_patching")


rule attribution_patching_estimate:
    input:
        unpack(instance_store("attribution_patching")),
        pairs=instance_text("attribution_patching"),
        model=model_input,
        code=code("scripts/attribution_patching_estimate.py"),
    output:
        patching=f"{ATP_RUN}/patching.parquet",
        by_pair=f"{ATP_RUN}/patching_by_pair.parquet",
        pairs=f"{ATP_RUN}/pairs.parquet",
        neurons=f"{ATP_RUN}/neurons.parquet",
    log:
        f"{ATP_LOGS}/estimate.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        options=instance_options("attribution_patching"),
        text_options=instance_text_options("attribution_patching", "text_column"),
        n_layer=instance_n_layer,
        model_dtype=model_dtype,
        device=config["device"],
    script:
        "../scripts/attribution_patching_estimate.py"


rule attribution_patching_figure:
    input:
        patching=f"{ATP_RUN}/patching.parquet",
        tokens=lambda wildcards: instance_store("attribution_patching")(wildcards)[
            "tokens"
        ],
        code=code("scripts/attribution_patching_figure.py"),
    output:
        **figure_outputs("attribution_patching", f"{ATP_RUN}/figures", "patching"),
    log:
        f"{ATP_LOGS}/figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    script:
        "../scripts/attribution_patching_figure.py"


rule attribution_patching_against_patching:
    input:
        estimated=f"{ATP_RUN}/patching.parquet",
        # the patching table of the activation_patching instance this one is compared with
        patched=lambda wildcards: "results/activation_patching/{}/{}/patching.parquet".format(
            instance("attribution_patching", wildcards)["activation_patching"],
            wildcards.model,
        ),
        code=code("scripts/attribution_patching_against_patching.py"),
    output:
        **figure_outputs(
            "attribution_patching", f"{ATP_RUN}/figures", "against_patching"
        ),
        table=f"{ATP_RUN}/against_patching.parquet",
    log:
        f"{ATP_LOGS}/against_patching.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    script:
        "../scripts/attribution_patching_against_patching.py"

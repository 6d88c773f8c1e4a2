# direct_logit_attribution: the clean prompts' activations (their activation store) through the final
# norm frozen at its clean scale: each head's, MLP's (and neuron's) direct term of the answer's logit difference.
DLA_RUN = RUN.format(method="direct_logit_attribution")
DLA_LOGS = RUN_LOGS.format(method="direct_logit_attribution")


rule direct_logit_attribution_attribute:
    input:
        unpack(instance_store("direct_logit_attribution")),
        pairs=instance_text("direct_logit_attribution"),
        model=model_input,
        code=code("scripts/direct_logit_attribution_attribute.py"),
    output:
        attribution=f"{DLA_RUN}/attribution.parquet",
        by_pair=f"{DLA_RUN}/attribution_by_pair.parquet",
        pairs=f"{DLA_RUN}/pairs.parquet",
    log:
        f"{DLA_LOGS}/attribute.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        options=instance_options("direct_logit_attribution"),
        text_options=instance_text_options("direct_logit_attribution", "text_column"),
        n_layer=instance_n_layer,
        model_dtype=model_dtype,
        device=config["device"],
    script:
        "../scripts/direct_logit_attribution_attribute.py"


rule direct_logit_attribution_figure:
    input:
        attribution=f"{DLA_RUN}/attribution.parquet",
        code=code("scripts/direct_logit_attribution_figure.py"),
    output:
        **figure_outputs(
            "direct_logit_attribution", f"{DLA_RUN}/figures", "attribution"
        ),
    log:
        f"{DLA_LOGS}/figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    script:
        "../scripts/direct_logit_attribution_figure.py"

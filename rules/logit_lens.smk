# logit_lens: every residual stream of a text read through the final norm and the unembedding.
LL_RUN = RUN.format(method="logit_lens")
LL_LOGS = RUN_LOGS.format(method="logit_lens")


rule logit_lens_lens:
    input:
        text=instance_text("logit_lens"),
        model=model_input,
        code=code("scripts/logit_lens_lens.py"),
    output:
        lens=f"{LL_RUN}/lens.parquet",
        top_tokens=f"{LL_RUN}/top_tokens.parquet",
    log:
        f"{LL_LOGS}/lens.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        text_options=instance_text_options("logit_lens", "text_column"),
        target=lookup(dpath="logit_lens/{instance}/target", within=config),
        n_top_tokens=lookup(dpath="logit_lens/{instance}/n_top_tokens", within=config),
        n_layer=instance_n_layer,
        model_dtype=model_dtype,
        device=config["device"],
    script:
        "../scripts/logit_lens_lens.py"


rule logit_lens_figures:
    input:
        lens=f"{LL_RUN}/lens.parquet",
        top_tokens=f"{LL_RUN}/top_tokens.parquet",
        code=code("scripts/logit_lens_figures.py"),
    output:
        **figure_outputs("logit_lens", f"{LL_RUN}/figures", "top_tokens", "by_layer"),
    log:
        f"{LL_LOGS}/figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        figure_text=lookup(dpath="logit_lens/{instance}/figure_text", within=config),
        figure_positions=lookup(
            dpath="logit_lens/{instance}/figure_positions", within=config
        ),
    script:
        "../scripts/logit_lens_figures.py"

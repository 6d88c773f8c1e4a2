# streaming_sae: sparse autoencoders on a corpus's sharded store (rules/corpora.smk), trained a
# minibatch at a time with checkpoints (a killed job resumes on rerun), evaluated on held-out
# shards, and interpreted by each latent's top-activating contexts.


rule streaming_sae_train:
    input:
        manifest=lambda wildcards: streaming_sae_store(wildcards)["manifest"],
        code=code("scripts/streaming_sae_train.py"),
    output:
        weights=f"{SS_RUN}/sae.safetensors",
        training_log=f"{SS_RUN}/training_log.parquet",
    log:
        f"{SS_LOGS}/train.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        gpu=MODEL_STAGE["gpu"],
        mem_mb=MODEL_STAGE["mem_mb"],
        runtime=MODEL_STAGE["runtime"],
    params:
        site=streaming_sae_site,
        sae=instance_option("streaming_sae", "sae"),
        # Not an output: it must outlive a killed job (Snakemake removes a failed job's outputs).
        checkpoint=f"{SS_RUN}/checkpoint.safetensors",
        device=config["device"],
    script:
        "../scripts/streaming_sae_train.py"


rule streaming_sae_evaluate:
    input:
        weights=f"{SS_RUN}/sae.safetensors",
        manifest=lambda wildcards: streaming_sae_store(wildcards)["manifest"],
        vocabulary=lambda wildcards: streaming_sae_store(wildcards)["vocabulary"],
        code=code("scripts/streaming_sae_evaluate.py"),
    output:
        **{table: f"{SS_RUN}/{table}.parquet" for table in SS_TABLES},
    log:
        f"{SS_LOGS}/evaluate.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        gpu=MODEL_STAGE["gpu"],
        mem_mb=MODEL_STAGE["mem_mb"],
        runtime=MODEL_STAGE["runtime"],
    params:
        heldout_shards=instance_option("streaming_sae", "sae", "heldout_shards"),
        batch_tokens=instance_option("streaming_sae", "sae", "batch_tokens"),
        interpretation=instance_option("streaming_sae", "interpretation"),
        category=lambda wildcards: instance("streaming_sae", wildcards).get("category"),
        device=config["device"],
    script:
        "../scripts/streaming_sae_evaluate.py"


rule streaming_sae_figures:
    input:
        training_log=f"{SS_RUN}/training_log.parquet",
        latents=f"{SS_RUN}/latents.parquet",
        evaluation=f"{SS_RUN}/evaluation.parquet",
        code=code("scripts/streaming_sae_figures.py"),
    output:
        **figure_outputs("streaming_sae", f"{SS_RUN}/figures", *SS_FIGURES),
    log:
        f"{SS_LOGS}/figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    script:
        "../scripts/streaming_sae_figures.py"


rule streaming_sae_contexts_page:
    input:
        latents=f"{SS_RUN}/latents.parquet",
        top_contexts=f"{SS_RUN}/top_contexts.parquet",
        evaluation=f"{SS_RUN}/evaluation.parquet",
        code=code("scripts/streaming_sae_contexts_page.py"),
    output:
        page=report(
            f"{SS_RUN}/tables/top_contexts.html",
            caption="../report/streaming_sae/top_contexts.rst",
            category="streaming_sae",
            subcategory="{instance} · {model}",
            labels={"result": "top_contexts (page)"},
        ),
    log:
        f"{SS_LOGS}/contexts_page.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        category=lambda wildcards: (
            instance("streaming_sae", wildcards).get("category") or {}
        ).get("name"),
        max_latents=instance_option("streaming_sae", "interpretation", "max_latents"),
        title=lambda wildcards: f"{wildcards.instance} · {wildcards.model}",
    script:
        "../scripts/streaming_sae_contexts_page.py"


rule streaming_sae_comparison:
    input:
        training_logs=run_paths("streaming_sae", ["training_log.parquet"]),
        evaluations=run_paths("streaming_sae", ["evaluation.parquet"]),
        code=code("scripts/streaming_sae_comparison.py"),
    output:
        **comparison_outputs("streaming_sae"),
    log:
        "logs/streaming_sae/comparison.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        runs=comparison_runs("streaming_sae"),
    script:
        "../scripts/streaming_sae_comparison.py"

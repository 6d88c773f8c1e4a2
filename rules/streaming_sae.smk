# streaming_sae: sparse autoencoders on a corpus's sharded store (rules/corpora.smk), trained a
# minibatch at a time with checkpoints (a killed job resumes on rerun), evaluated on held-out
# shards, and interpreted by each latent's top-activating contexts.
from interpflow.methods.streaming_sae.method import (
    FIGURES as SS_FIGURES,
    TABLES as SS_TABLES,
)

SS_RUN = RUN.format(method="streaming_sae")
SS_LOGS = RUN_LOGS.format(method="streaming_sae")


rule streaming_sae_train:
    input:
        manifest=lambda wildcards: instance_corpus_store("streaming_sae")(wildcards)[
            "manifest"
        ],
        code=code("scripts/streaming_sae_train.py"),
    output:
        weights=f"{SS_RUN}/sae.safetensors",
        config=f"{SS_RUN}/sae_config.json",
        training_log=f"{SS_RUN}/training_log.parquet",
    log:
        f"{SS_LOGS}/train.log",
    wildcard_constraints:
        instance=instances_reading("streaming_sae", pretrained=False),
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        site=per_run("streaming_sae", METHODS["streaming_sae"].sae_site),
        sae=lookup(dpath="streaming_sae/{instance}/sae", within=config),
        # Not an output: it must outlive a killed job (Snakemake removes a failed job's outputs).
        checkpoint=f"{SS_RUN}/checkpoint.safetensors",
        device=config["device"],
    script:
        "../scripts/streaming_sae_train.py"


# An instance with `pretrained` reads that SAE (config `saes`) instead of training one: its files are
# written in interpflow's save format, with an empty training log, and every later stage is the same.
rule streaming_sae_import:
    input:
        sae=pretrained_sae_folder("streaming_sae"),
        model=model_input,
        code=code("scripts/streaming_sae_import.py"),
    output:
        weights=f"{SS_RUN}/sae.safetensors",
        config=f"{SS_RUN}/sae_config.json",
        training_log=f"{SS_RUN}/training_log.parquet",
    log:
        f"{SS_LOGS}/import.log",
    wildcard_constraints:
        instance=instances_reading("streaming_sae", pretrained=True),
    conda:
        "../envs/torch.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        sae=pretrained_sae("streaming_sae"),
    script:
        "../scripts/streaming_sae_import.py"


rule streaming_sae_evaluate:
    input:
        weights=f"{SS_RUN}/sae.safetensors",
        config=f"{SS_RUN}/sae_config.json",
        manifest=lambda wildcards: instance_corpus_store("streaming_sae")(wildcards)[
            "manifest"
        ],
        vocabulary=lambda wildcards: instance_corpus_store("streaming_sae")(wildcards)[
            "vocabulary"
        ],
        model=model_input,
        code=code("scripts/streaming_sae_evaluate.py"),
    output:
        **{table: f"{SS_RUN}/{table}.parquet" for table in SS_TABLES},
        core_result=f"{SS_RUN}/core_eval_results.json",
    log:
        f"{SS_LOGS}/evaluate.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        heldout_shards=lookup(
            dpath="streaming_sae/{instance}/sae/heldout_shards", within=config
        ),
        batch_tokens=lookup(
            dpath="streaming_sae/{instance}/sae/batch_tokens", within=config
        ),
        spliced_batch_tokens=lookup(
            dpath="streaming_sae/{instance}/sae/spliced_batch_tokens", within=config
        ),
        n_layer=instance_n_layer,
        model_dtype=model_dtype,
        interpretation=lookup(
            dpath="streaming_sae/{instance}/interpretation", within=config
        ),
        category=lambda wildcards: instance("streaming_sae", wildcards).get("category"),
        # which tokens the metrics are measured on, for the SAEBench-style core result
        eval_config=lambda wildcards: {
            "model_name": wildcards.model,
            "dataset": instance("streaming_sae", wildcards)["corpus"],
            "context_size": instance_corpus("streaming_sae", wildcards)[
                "context_size"
            ],
            "exclude_special_tokens_from_reconstruction": instance(
                "streaming_sae", wildcards
            )["sae"]["exclude_special_tokens_from_reconstruction"],
            "heldout_shards": instance("streaming_sae", wildcards)["sae"][
                "heldout_shards"
            ],
            "llm_dtype": model_dtype(wildcards),
        },
        device=config["device"],
    script:
        "../scripts/streaming_sae_evaluate.py"


rule streaming_sae_logit_tokens:
    input:
        weights=f"{SS_RUN}/sae.safetensors",
        config=f"{SS_RUN}/sae_config.json",
        model=model_input,
        vocabulary=lambda wildcards: instance_corpus_store("streaming_sae")(wildcards)[
            "vocabulary"
        ],
        code=code("scripts/streaming_sae_logit_tokens.py"),
    output:
        logit_tokens=f"{SS_RUN}/logit_tokens.parquet",
    log:
        f"{SS_LOGS}/logit_tokens.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        n=lookup(
            dpath="streaming_sae/{instance}/interpretation/logit_tokens", within=config
        ),
        n_layer=instance_n_layer,
        model_dtype=model_dtype,
        device=config["device"],
    script:
        "../scripts/streaming_sae_logit_tokens.py"


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
        **CPU_RESOURCES,
    script:
        "../scripts/streaming_sae_figures.py"


rule streaming_sae_contexts_page:
    input:
        latents=f"{SS_RUN}/latents.parquet",
        top_contexts=f"{SS_RUN}/top_contexts.parquet",
        evaluation=f"{SS_RUN}/evaluation.parquet",
        activation_histograms=f"{SS_RUN}/activation_histograms.parquet",
        context_activations=f"{SS_RUN}/context_activations.parquet",
        logit_tokens=f"{SS_RUN}/logit_tokens.parquet",
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
        **CPU_RESOURCES,
    params:
        category=lambda wildcards: (
            instance("streaming_sae", wildcards).get("category") or {}
        ).get("name"),
        max_latents=lookup(
            dpath="streaming_sae/{instance}/interpretation/max_latents", within=config
        ),
        title=lambda wildcards: f"{wildcards.instance} · {wildcards.model}",
    script:
        "../scripts/streaming_sae_contexts_page.py"


# Every latent as SAEDashboard writes it for a Neuronpedia upload.
rule streaming_sae_neuronpedia_export:
    input:
        latents=f"{SS_RUN}/latents.parquet",
        evaluation=f"{SS_RUN}/evaluation.parquet",
        activation_histograms=f"{SS_RUN}/activation_histograms.parquet",
        context_activations=f"{SS_RUN}/context_activations.parquet",
        logit_tokens=f"{SS_RUN}/logit_tokens.parquet",
        code=code("scripts/streaming_sae_neuronpedia_export.py"),
    output:
        folder=directory(f"{SS_RUN}/neuronpedia"),
    log:
        f"{SS_LOGS}/neuronpedia_export.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        model_id=lambda wildcards: wildcards.model,
        layer=instance_layer("streaming_sae", "layer"),
        sae_set=lambda wildcards: wildcards.instance,
        dataset=lambda wildcards: instance("streaming_sae", wildcards)["corpus"],
        tokens_per_window=lambda wildcards: instance_corpus(
            "streaming_sae", wildcards
        )["context_size"]
        - int(instance_corpus("streaming_sae", wildcards)["prepend_bos"]),
    script:
        "../scripts/streaming_sae_neuronpedia_export.py"


rule streaming_sae_saelens_export:
    input:
        weights=f"{SS_RUN}/sae.safetensors",
        config=f"{SS_RUN}/sae_config.json",
        latents=f"{SS_RUN}/latents.parquet",
        model=model_input,
        code=code("scripts/sae_saelens_export.py"),
    output:
        folder=directory(f"{SS_RUN}/saelens"),
    log:
        f"{SS_LOGS}/saelens_export.log",
    conda:
        "../envs/torch.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        # How the activations were taken: windows of the corpus, BOS first or not.
        activations=lambda wildcards: {
            "dataset_path": instance("streaming_sae", wildcards)["corpus"],
            "context_size": instance_corpus("streaming_sae", wildcards)[
                "context_size"
            ],
            "prepend_bos": instance_corpus("streaming_sae", wildcards)["prepend_bos"],
        },
    script:
        "../scripts/sae_saelens_export.py"

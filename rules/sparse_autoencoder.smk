# sparse_autoencoder: a tied-weight k-sparse autoencoder on MLP neurons (neuron_site), trained from the
# activation store (never the model), then latent scores and text heatmaps.
from interpflow.methods.sparse_autoencoder.method import (
    FIGURES as SAE_FIGURES,
    HEATMAPS as SAE_HEATMAPS,
)

SAE_RUN = RUN.format(method="sparse_autoencoder")
SAE_LOGS = RUN_LOGS.format(method="sparse_autoencoder")


rule sparse_autoencoder_train:
    input:
        unpack(instance_store("sparse_autoencoder")),
        code=code("scripts/sparse_autoencoder_train.py"),
    output:
        weights=f"{SAE_RUN}/sae.safetensors",
        config=f"{SAE_RUN}/sae_config.json",
        latents=f"{SAE_RUN}/latents.safetensors",
        training_log=f"{SAE_RUN}/training_log.parquet",
        evaluation=f"{SAE_RUN}/evaluation.parquet",
    log:
        f"{SAE_LOGS}/train.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        site=per_run("sparse_autoencoder", METHODS["sparse_autoencoder"].sae_site),
        sae=lookup(dpath="sparse_autoencoder/{instance}/sae", within=config),
        device=config["device"],
    script:
        "../scripts/sparse_autoencoder_train.py"


rule sparse_autoencoder_scores:
    input:
        latents=f"{SAE_RUN}/latents.safetensors",
        tokens=lambda wildcards: instance_store("sparse_autoencoder")(wildcards)[
            "tokens"
        ],
        code=code("scripts/sparse_autoencoder_scores.py"),
    output:
        scores=f"{SAE_RUN}/latents.parquet",
    log:
        f"{SAE_LOGS}/scores.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        category=lookup(dpath="sparse_autoencoder/{instance}/category", within=config),
    script:
        "../scripts/sparse_autoencoder_scores.py"


rule sparse_autoencoder_figures:
    input:
        latents=f"{SAE_RUN}/latents.safetensors",
        training_log=f"{SAE_RUN}/training_log.parquet",
        scores=f"{SAE_RUN}/latents.parquet",
        tokens=lambda wildcards: instance_store("sparse_autoencoder")(wildcards)[
            "tokens"
        ],
        code=code("scripts/sparse_autoencoder_figures.py"),
    output:
        **figure_outputs(
            "sparse_autoencoder", f"{SAE_RUN}/figures", *SAE_FIGURES, *SAE_HEATMAPS
        ),
        **{f"{name}_html": f"{SAE_RUN}/figures/{name}.html" for name in SAE_HEATMAPS},
    log:
        f"{SAE_LOGS}/figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        category=lookup(
            dpath="sparse_autoencoder/{instance}/category/name", within=config
        ),
        plot=lookup(dpath="sparse_autoencoder/{instance}/plot", within=config),
    script:
        "../scripts/sparse_autoencoder_figures.py"


rule sparse_autoencoder_saelens_export:
    input:
        weights=f"{SAE_RUN}/sae.safetensors",
        config=f"{SAE_RUN}/sae_config.json",
        latents=f"{SAE_RUN}/latents.parquet",
        model=model_input,
        code=code("scripts/sae_saelens_export.py"),
    output:
        folder=directory(f"{SAE_RUN}/saelens"),
    log:
        f"{SAE_LOGS}/saelens_export.log",
    conda:
        "../envs/torch.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        # How the activations were taken: each text of the set whole, no BOS.
        activations=lambda wildcards: {
            "dataset_path": instance("sparse_autoencoder", wildcards)["text"],
            "context_size": None,
            "prepend_bos": False,
        },
    script:
        "../scripts/sae_saelens_export.py"

# palinka_sae (seed 003): a tied-weight k-sparse autoencoder on h.L.mlp.c_fc, trained from the
# activation store (never the model), then latent scores and text heatmaps.


rule palinka_sae:
    input:
        palinka_sae_outputs(),


rule palinka_sae_train:
    input:
        unpack(palinka_sae_store),
        code=code("scripts/palinka_sae_train.py"),
    output:
        weights=f"{SAE_RUN}/sae.safetensors",
        config=f"{SAE_RUN}/sae_config.json",
        latents=f"{SAE_RUN}/latents.safetensors",
        training_log=f"{SAE_RUN}/training_log.parquet",
    log:
        "logs/palinka_sae/{model}/train.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        gpu=MODEL_STAGE["gpu"],
        mem_mb=MODEL_STAGE["mem_mb"],
        runtime=MODEL_STAGE["runtime"],
    params:
        site=palinka_sae_site,
        sae=SAE["sae"],
        device=config["device"],
    script:
        "../scripts/palinka_sae_train.py"


rule palinka_sae_scores:
    input:
        latents=f"{SAE_RUN}/latents.safetensors",
        tokens=lambda wildcards: palinka_sae_store(wildcards)["tokens"],
        code=code("scripts/palinka_sae_scores.py"),
    output:
        scores=f"{SAE_RUN}/latents.parquet",
    log:
        "logs/palinka_sae/{model}/scores.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        category=SAE["category"],
    script:
        "../scripts/palinka_sae_scores.py"


rule palinka_sae_figures:
    input:
        latents=f"{SAE_RUN}/latents.safetensors",
        training_log=f"{SAE_RUN}/training_log.parquet",
        scores=f"{SAE_RUN}/latents.parquet",
        tokens=lambda wildcards: palinka_sae_store(wildcards)["tokens"],
        code=code("scripts/palinka_sae_figures.py"),
    output:
        **figure_outputs(
            "palinka_sae", f"{SAE_RUN}/figures", *SAE_FIGURES, *SAE_HEATMAPS
        ),
        **{f"{name}_html": f"{SAE_RUN}/figures/{name}.html" for name in SAE_HEATMAPS},
    log:
        "logs/palinka_sae/{model}/figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        category=SAE["category"]["name"],
        plot=SAE["plot"],
    script:
        "../scripts/palinka_sae_figures.py"

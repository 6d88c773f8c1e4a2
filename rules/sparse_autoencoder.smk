# sparse_autoencoder: a tied-weight k-sparse autoencoder on MLP neurons (neuron_site), trained from the
# activation store (never the model), then latent scores and text heatmaps.


rule sparse_autoencoder_train:
    input:
        unpack(instance_store("sparse_autoencoder")),
        code=code("scripts/sparse_autoencoder_train.py"),
    output:
        weights=f"{SAE_RUN}/sae.safetensors",
        config=f"{SAE_RUN}/sae_config.json",
        latents=f"{SAE_RUN}/latents.safetensors",
        training_log=f"{SAE_RUN}/training_log.parquet",
    log:
        f"{SAE_LOGS}/train.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        gpu=MODEL_STAGE["gpu"],
        mem_mb=MODEL_STAGE["mem_mb"],
        runtime=MODEL_STAGE["runtime"],
    params:
        site=sparse_autoencoder_site,
        sae=instance_option("sparse_autoencoder", "sae"),
        device=config["device"],
    script:
        "../scripts/sparse_autoencoder_train.py"


rule sparse_autoencoder_scores:
    input:
        latents=f"{SAE_RUN}/latents.safetensors",
        tokens=sparse_autoencoder_tokens,
        code=code("scripts/sparse_autoencoder_scores.py"),
    output:
        scores=f"{SAE_RUN}/latents.parquet",
    log:
        f"{SAE_LOGS}/scores.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        category=instance_option("sparse_autoencoder", "category"),
    script:
        "../scripts/sparse_autoencoder_scores.py"


rule sparse_autoencoder_figures:
    input:
        latents=f"{SAE_RUN}/latents.safetensors",
        training_log=f"{SAE_RUN}/training_log.parquet",
        scores=f"{SAE_RUN}/latents.parquet",
        tokens=sparse_autoencoder_tokens,
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
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        category=instance_option("sparse_autoencoder", "category", "name"),
        plot=instance_option("sparse_autoencoder", "plot"),
    script:
        "../scripts/sparse_autoencoder_figures.py"


rule sparse_autoencoder_comparison:
    input:
        tables=run_paths("sparse_autoencoder", ["training_log.parquet"]),
        configs=run_paths("sparse_autoencoder", ["sae_config.json"]),
        code=code("scripts/sparse_autoencoder_comparison.py"),
    output:
        **comparison_outputs("sparse_autoencoder"),
    log:
        "logs/sparse_autoencoder/comparison.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        runs=comparison_runs("sparse_autoencoder"),
    script:
        "../scripts/sparse_autoencoder_comparison.py"

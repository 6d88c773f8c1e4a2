# subspace_removal (seed 000): remove the top singular component(s) of h.L.mlp.c_fc (pre-GELU)
# and measure the effect downstream: inspection from the cache, interventions with the model.


rule subspace_removal:
    input:
        subspace_removal_outputs(),


rule subspace_removal_inspection:
    input:
        unpack(subspace_removal_store),
        code=code("scripts/subspace_removal_inspection.py"),
    output:
        matrices="results/subspace_removal/{model}/inspection.safetensors",
        spectrum="results/subspace_removal/{model}/inspection_spectrum.parquet",
    log:
        "logs/subspace_removal/{model}/inspection.log",
    conda:
        "../envs/torch.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        layer=SR["inspection_layer"],
        n_components=SR["n_components"],
    script:
        "../scripts/subspace_removal_inspection.py"


rule subspace_removal_interventions:
    input:
        unpack(subspace_removal_store),
        model=model_input,
        code=code("scripts/subspace_removal_interventions.py"),
    output:
        hidden_state_impact="results/subspace_removal/{model}/hidden_state_impact.parquet",
        logit_impact="results/subspace_removal/{model}/logit_impact.parquet",
        layer_sweep="results/subspace_removal/{model}/layer_sweep.parquet",
        cosine_similarity="results/subspace_removal/{model}/cosine_similarity.safetensors",
    log:
        "logs/subspace_removal/{model}/interventions.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        gpu=MODEL_STAGE["gpu"],
        mem_mb=MODEL_STAGE["mem_mb"],
        runtime=MODEL_STAGE["runtime"],
    params:
        layers=subspace_removal_swept_layers,
        intervention_layer=subspace_removal_layer,
        n_components=SR["n_components"],
        engine=SR["engine"],
        batch_size=SR["batch_size"],
        n_layer=lambda wildcards: n_layer(wildcards.model),
        device=config["device"],
    script:
        "../scripts/subspace_removal_interventions.py"


rule subspace_removal_inspection_figures:
    input:
        matrices="results/subspace_removal/{model}/inspection.safetensors",
        spectrum="results/subspace_removal/{model}/inspection_spectrum.parquet",
        code=code("scripts/subspace_removal_inspection_figures.py"),
    output:
        **figure_outputs(
            "subspace_removal", SR_FIGURES, "activation_histogram", "inspection"
        ),
    log:
        "logs/subspace_removal/{model}/inspection_figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        layer=SR["inspection_layer"],
        n_components=SR["n_components"],
        plot=SR["plot"],
    script:
        "../scripts/subspace_removal_inspection_figures.py"


rule subspace_removal_intervention_figures:
    input:
        tokens=lambda wildcards: subspace_removal_store(wildcards)["tokens"],
        hidden_state_impact="results/subspace_removal/{model}/hidden_state_impact.parquet",
        logit_impact="results/subspace_removal/{model}/logit_impact.parquet",
        cosine_similarity="results/subspace_removal/{model}/cosine_similarity.safetensors",
        code=code("scripts/subspace_removal_intervention_figures.py"),
    output:
        **figure_outputs(
            "subspace_removal",
            SR_FIGURES,
            "hidden_state_impact",
            "cosine_similarity",
            "logit_impact_stem",
            "logit_impact_text",
        ),
    log:
        "logs/subspace_removal/{model}/intervention_figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        layer=subspace_removal_layer,
        plot=SR["plot"],
    script:
        "../scripts/subspace_removal_intervention_figures.py"


rule subspace_removal_sweep_figure:
    input:
        layer_sweep="results/subspace_removal/{model}/layer_sweep.parquet",
        code=code("scripts/subspace_removal_sweep_figure.py"),
    output:
        **figure_outputs("subspace_removal", SR_FIGURES, "layer_sweep"),
    log:
        "logs/subspace_removal/{model}/sweep_figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    script:
        "../scripts/subspace_removal_sweep_figure.py"

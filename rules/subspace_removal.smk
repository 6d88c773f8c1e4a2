# subspace_removal: remove the top singular component(s) of the MLP neurons (neuron_site, default
# blocks.L.mlp.hook_pre) and measure the effect downstream: inspection from the cache, interventions with the model.


rule subspace_removal_inspection:
    input:
        unpack(instance_store("subspace_removal")),
        code=code("scripts/subspace_removal_inspection.py"),
    output:
        matrices=f"{SR_RUN}/inspection.safetensors",
        spectrum=f"{SR_RUN}/inspection_spectrum.parquet",
    log:
        f"{SR_LOGS}/inspection.log",
    conda:
        "../envs/torch.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        layer=subspace_removal_layer("inspection_layer"),
        n_components=instance_option("subspace_removal", "n_components"),
        neuron_site=instance_option("subspace_removal", "neuron_site"),
    script:
        "../scripts/subspace_removal_inspection.py"


rule subspace_removal_interventions:
    input:
        unpack(instance_store("subspace_removal")),
        model=model_input,
        code=code("scripts/subspace_removal_interventions.py"),
    output:
        hidden_state_impact=f"{SR_RUN}/hidden_state_impact.parquet",
        logit_impact=f"{SR_RUN}/logit_impact.parquet",
        layer_sweep=f"{SR_RUN}/layer_sweep.parquet",
        cosine_similarity=f"{SR_RUN}/cosine_similarity.safetensors",
    log:
        f"{SR_LOGS}/interventions.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        gpu=MODEL_STAGE["gpu"],
        mem_mb=MODEL_STAGE["mem_mb"],
        runtime=MODEL_STAGE["runtime"],
    params:
        layers=subspace_removal_swept_layers,
        intervention_layer=subspace_removal_layer("intervention_layer"),
        n_components=instance_option("subspace_removal", "n_components"),
        engine=instance_option("subspace_removal", "engine"),
        neuron_site=instance_option("subspace_removal", "neuron_site"),
        batch_size=instance_option("subspace_removal", "batch_size"),
        n_layer=instance_n_layer,
        device=config["device"],
    script:
        "../scripts/subspace_removal_interventions.py"


rule subspace_removal_inspection_figures:
    input:
        matrices=f"{SR_RUN}/inspection.safetensors",
        spectrum=f"{SR_RUN}/inspection_spectrum.parquet",
        code=code("scripts/subspace_removal_inspection_figures.py"),
    output:
        **figure_outputs(
            "subspace_removal",
            f"{SR_RUN}/figures",
            "activation_histogram",
            "inspection",
        ),
    log:
        f"{SR_LOGS}/inspection_figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        layer=subspace_removal_layer("inspection_layer"),
        n_components=instance_option("subspace_removal", "n_components"),
        neuron_site=instance_option("subspace_removal", "neuron_site"),
        plot=instance_option("subspace_removal", "plot"),
    script:
        "../scripts/subspace_removal_inspection_figures.py"


rule subspace_removal_intervention_figures:
    input:
        tokens=lambda wildcards: instance_store("subspace_removal")(wildcards)["tokens"],
        hidden_state_impact=f"{SR_RUN}/hidden_state_impact.parquet",
        logit_impact=f"{SR_RUN}/logit_impact.parquet",
        cosine_similarity=f"{SR_RUN}/cosine_similarity.safetensors",
        code=code("scripts/subspace_removal_intervention_figures.py"),
    output:
        **figure_outputs(
            "subspace_removal", f"{SR_RUN}/figures", *SR_INTERVENTION_FIGURES
        ),
    log:
        f"{SR_LOGS}/intervention_figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        layer=subspace_removal_layer("intervention_layer"),
        plot=instance_option("subspace_removal", "plot"),
    script:
        "../scripts/subspace_removal_intervention_figures.py"


rule subspace_removal_sweep_figure:
    input:
        layer_sweep=f"{SR_RUN}/layer_sweep.parquet",
        code=code("scripts/subspace_removal_sweep_figure.py"),
    output:
        **figure_outputs("subspace_removal", f"{SR_RUN}/figures", "layer_sweep"),
    log:
        f"{SR_LOGS}/sweep_figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    script:
        "../scripts/subspace_removal_sweep_figure.py"


rule subspace_removal_comparison:
    input:
        tables=run_paths("subspace_removal", ["layer_sweep.parquet"]),
        code=code("scripts/subspace_removal_comparison.py"),
    output:
        **comparison_outputs("subspace_removal"),
    log:
        "logs/subspace_removal/comparison.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        runs=comparison_runs("subspace_removal"),
    script:
        "../scripts/subspace_removal_comparison.py"

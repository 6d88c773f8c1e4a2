# subspace_removal: remove the top singular component(s) of the MLP neurons (neuron_site, default
# blocks.L.mlp.hook_pre) and measure the effect downstream: inspection from the cache, interventions with the model.
from interpflow.methods.subspace_removal.method import (
    INTERVENTION_FIGURES as SR_INTERVENTION_FIGURES,
    swept_layers,
)

SR_RUN = RUN.format(method="subspace_removal")
SR_LOGS = RUN_LOGS.format(method="subspace_removal")


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
        **CPU_RESOURCES,
    params:
        layer=instance_layer("subspace_removal", "inspection_layer"),
        n_components=lookup(
            dpath="subspace_removal/{instance}/n_components", within=config
        ),
        neuron_site=lookup(
            dpath="subspace_removal/{instance}/neuron_site", within=config
        ),
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
        **MODEL_RESOURCES,
    params:
        layers=per_run("subspace_removal", swept_layers),
        intervention_layer=instance_layer("subspace_removal", "intervention_layer"),
        n_components=lookup(
            dpath="subspace_removal/{instance}/n_components", within=config
        ),
        engine=lookup(dpath="subspace_removal/{instance}/engine", within=config),
        neuron_site=lookup(
            dpath="subspace_removal/{instance}/neuron_site", within=config
        ),
        batch_size=lookup(dpath="subspace_removal/{instance}/batch_size", within=config),
        n_layer=instance_n_layer,
        model_dtype=model_dtype,
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
        **CPU_RESOURCES,
    params:
        layer=instance_layer("subspace_removal", "inspection_layer"),
        n_components=lookup(
            dpath="subspace_removal/{instance}/n_components", within=config
        ),
        neuron_site=lookup(
            dpath="subspace_removal/{instance}/neuron_site", within=config
        ),
        plot=lookup(dpath="subspace_removal/{instance}/plot", within=config),
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
        **CPU_RESOURCES,
    params:
        layer=instance_layer("subspace_removal", "intervention_layer"),
        plot=lookup(dpath="subspace_removal/{instance}/plot", within=config),
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
        **CPU_RESOURCES,
    script:
        "../scripts/subspace_removal_sweep_figure.py"

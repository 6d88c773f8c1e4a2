# Models: hub models are provisioned once into a local folder (on the submitting machine:
# compute nodes often have no internet); the embedded model is built from a fixed seed.


localrules:
    provision_hub_model,
    provision_hub_sae,
    build_embedded_model,


rule provision_hub_model:
    output:
        directory(f"{MODEL_DIR}/hub/{{model}}"),
    log:
        "logs/models/provision_{model}.log",
    conda:
        "../envs/torch.yaml"
    params:
        hub_id=lambda wildcards: config["models"][wildcards.model]["hub_id"],
        revision=lambda wildcards: config["models"][wildcards.model].get("revision"),
    script:
        "../scripts/provision_hub_model.py"


rule build_embedded_model:
    input:
        vocab=workflow_path("resources/gpt2-tokenizer/vocab.json"),
        merges=workflow_path("resources/gpt2-tokenizer/merges.txt"),
        code=code("scripts/build_embedded_model.py"),
    output:
        directory(f"{MODEL_DIR}/embedded/{{model}}"),
    log:
        "logs/models/build_{model}.log",
    conda:
        "../envs/torch.yaml"
    params:
        # the weights, not the dtype they are computed in: a dtype change does not rebuild them
        spec=lambda wildcards: model_weights_spec(wildcards.model),
    script:
        "../scripts/build_embedded_model.py"


# Pretrained SAEs from the hub (config `saes`), provisioned once like hub models.
rule provision_hub_sae:
    output:
        directory(SAE_PROVISIONED),
    log:
        "logs/saes/provision_{sae}.log",
    conda:
        "../envs/torch.yaml"
    params:
        entry=lambda wildcards: config["saes"][wildcards.sae],
    script:
        "../scripts/provision_hub_sae.py"

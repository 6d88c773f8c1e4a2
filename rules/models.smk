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


# A model computing in bfloat16 or float16 (`models.<name>.dtype`) loads its weights stored once in that
# dtype: its stages map half the bytes of the float32 checkpoint and cast nothing.
rule store_model_in_dtype:
    input:
        source=model_source_input,
        code=code("scripts/store_model_in_dtype.py"),
    output:
        directory(f"{MODEL_DIR}/{{dtype}}/{{model}}"),
    log:
        "logs/models/store_{model}_{dtype}.log",
    wildcard_constraints:
        dtype="bfloat16|float16",
    conda:
        "../envs/torch.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=MODEL_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    script:
        "../scripts/store_model_in_dtype.py"


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

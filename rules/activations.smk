# The activation store: one forward pass per (model, text set), keeping every hook site that any
# instance of any method on that text and model needs. Everything downstream reads these files,
# never the model.


rule extract_activations:
    input:
        model=model_input,
        text=lambda wildcards: text_path(wildcards.text),
        code=code("scripts/extract_activations.py"),
    output:
        **activation_store("{model}", "{text}"),
    log:
        "logs/activations/{model}/{text}.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        sites=lambda wildcards: required_sites(config, wildcards.model, wildcards.text),
        text_column=lambda wildcards: config["texts"][wildcards.text]["text_column"],
        n_layer=lambda wildcards: n_layer(wildcards.model),
        model_dtype=model_dtype,
        batch_size=config["extraction"]["batch_size"],
        device=config["device"],
    script:
        "../scripts/extract_activations.py"

# edge_attribution_patching: attribution patching for every edge from a component's output (embedding,
# head, MLP) to a later component's input (attention, MLP, logits), one backward pass per pair; the
# circuit is the largest edges.
EAP_RUN = RUN.format(method="edge_attribution_patching")
EAP_LOGS = RUN_LOGS.format(method="edge_attribution_patching")


rule edge_attribution_patching_edges:
    input:
        unpack(instance_store("edge_attribution_patching")),
        pairs=instance_text("edge_attribution_patching"),
        model=model_input,
        code=code("scripts/edge_attribution_patching_edges.py"),
    output:
        edges=f"{EAP_RUN}/edges.parquet",
        pairs=f"{EAP_RUN}/pairs.parquet",
    log:
        f"{EAP_LOGS}/edges.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        options=instance_options("edge_attribution_patching"),
        text_options=instance_text_options("edge_attribution_patching", "text_column"),
        n_layer=instance_n_layer,
        model_dtype=model_dtype,
        device=config["device"],
    script:
        "../scripts/edge_attribution_patching_edges.py"


rule edge_attribution_patching_figure:
    input:
        edges=f"{EAP_RUN}/edges.parquet",
        code=code("scripts/edge_attribution_patching_figure.py"),
    output:
        **figure_outputs("edge_attribution_patching", f"{EAP_RUN}/figures", "circuit"),
    log:
        f"{EAP_LOGS}/figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    script:
        "../scripts/edge_attribution_patching_figure.py"

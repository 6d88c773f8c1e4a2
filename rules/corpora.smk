# Corpora: each (model, corpus) is tokenized once into fixed windows, split into shards; one
# extraction job per shard (a model stage: on SLURM the shards run in parallel) stores every site
# the instances on that corpus need; the manifest describes the shards for every later stage,
# which reads it and never the model.
rule tokenize_corpus:
    input:
        model=model_source_input,  # the tokenizer: the same for every dtype of the weights
        files=corpus_files,
        code=code("scripts/tokenize_corpus.py"),
    output:
        tokens=f"{CORPUS_STORE}/tokens.parquet",
        vocabulary=f"{CORPUS_STORE}/vocabulary.parquet",
    log:
        "logs/activations/{model}/{corpus}/tokenize.log",
    conda:
        "../envs/torch.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        corpus=lambda wildcards: config["corpora"][wildcards.corpus],
    script:
        "../scripts/tokenize_corpus.py"


rule extract_corpus_shard:
    input:
        model=model_input,
        tokens=f"{CORPUS_STORE}/tokens.parquet",
        code=code("scripts/extract_corpus_shard.py"),
    output:
        f"{CORPUS_STORE}/shard-{{shard}}.safetensors",
    log:
        "logs/activations/{model}/{corpus}/shard-{shard}.log",
    conda:
        "../envs/torch.yaml"
    threads: MODEL_STAGE["threads"]
    resources:
        **MODEL_RESOURCES,
    params:
        sites=lambda wildcards: required_sites(
            config, wildcards.model, wildcards.corpus, kind="corpus"
        ),
        context_size=lambda wildcards: config["corpora"][wildcards.corpus][
            "context_size"
        ],
        dtype=lambda wildcards: config["corpora"][wildcards.corpus]["dtype"],
        batch_windows=config["extraction"]["batch_windows"],
        n_layer=lambda wildcards: n_layer(wildcards.model),
        model_dtype=model_dtype,
        device=config["device"],
    script:
        "../scripts/extract_corpus_shard.py"


rule corpus_manifest:
    input:
        shards=corpus_shards,
        code=code("scripts/corpus_manifest.py"),
    output:
        f"{CORPUS_STORE}/manifest.json",
    log:
        "logs/activations/{model}/{corpus}/manifest.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        corpus=lambda wildcards: config["corpora"][wildcards.corpus],
        model_folder=model_input,
    script:
        "../scripts/corpus_manifest.py"

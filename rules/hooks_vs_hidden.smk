# hooks_vs_hidden (seed 004): hidden_states[L+1] = hidden_states[L] + attention delta + MLP delta.


rule hooks_vs_hidden:
    input:
        hooks_vs_hidden_outputs(),


rule hooks_vs_hidden_statistics:
    input:
        unpack(hooks_vs_hidden_store),
        code=code("scripts/hooks_vs_hidden_statistics.py"),
    output:
        correlations="results/hooks_vs_hidden/{model}/correlations.parquet",
        values="results/hooks_vs_hidden/{model}/comparison_values.parquet",
    log:
        "logs/hooks_vs_hidden/{model}/statistics.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        layers=hooks_vs_hidden_layers,
        figure_layer=HVH["layer"],
        clip_threshold=HVH["clip_threshold"],
    script:
        "../scripts/hooks_vs_hidden_statistics.py"


rule hooks_vs_hidden_decomposition_figure:
    input:
        correlations="results/hooks_vs_hidden/{model}/correlations.parquet",
        values="results/hooks_vs_hidden/{model}/comparison_values.parquet",
        code=code("scripts/hooks_vs_hidden_figures.py"),
    output:
        **figure_outputs(
            "hooks_vs_hidden",
            "results/hooks_vs_hidden/{model}/figures",
            "decomposition",
        ),
    log:
        "logs/hooks_vs_hidden/{model}/decomposition_figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        figure_layer=HVH["layer"],
        plot=HVH["plot"],
    script:
        "../scripts/hooks_vs_hidden_figures.py"


rule hooks_vs_hidden_layer_profile_figure:
    input:
        correlations="results/hooks_vs_hidden/{model}/correlations.parquet",
        code=code("scripts/hooks_vs_hidden_layer_profile.py"),
    output:
        **figure_outputs(
            "hooks_vs_hidden",
            "results/hooks_vs_hidden/{model}/figures",
            "layer_profile",
        ),
    log:
        "logs/hooks_vs_hidden/{model}/layer_profile_figure.log",
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    script:
        "../scripts/hooks_vs_hidden_layer_profile.py"

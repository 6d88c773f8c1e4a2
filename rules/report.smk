# The report: figures are marked where they are drawn (figure_outputs, comparison_outputs); key
# tables get an HTML view here, since a browser cannot show Parquet. `snakemake --report` gathers both.


rule table_view:
    input:
        table="results/{method}/{instance}/{model}/{table}.parquet",
        code=code("scripts/table_view.py"),
    output:
        page=report(
            "results/{method}/{instance}/{model}/tables/{table}.html",
            caption="../report/key_tables.rst",
            category="{method}",
            subcategory="{instance} · {model}",
            labels={"result": "{table} (table)"},
        ),
    log:
        "logs/{method}/{instance}/{model}/table_view_{table}.log",
    wildcard_constraints:
        method="|".join(METHODS),
        table="|".join(
            sorted({table for m in METHODS.values() for table in m.report_tables})
        ),
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        **CPU_RESOURCES,
    params:
        max_rows=2000,
    script:
        "../scripts/table_view.py"


# The configuration as the workflow read it: every overlay merged, removed instances gone, every
# default filled in. What `snakemake` runs is exactly what this file says.
rule resolved_config:
    output:
        "results/resolved_config.yaml",
    log:
        "logs/resolved_config.log",
    localrule: True
    conda:
        "../envs/workflow.yaml"
    params:
        config=config_as_given(config),  # a sweep as written (its points are derived)
    script:
        "../scripts/resolved_config.py"

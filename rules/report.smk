# The report: figures are marked where they are drawn (figure_outputs); key tables get an HTML view
# here, since a browser cannot show Parquet. `snakemake --report report.html` gathers both.


rule table_view:
    input:
        table="results/{analysis}/{model}/{table}.parquet",
        code=code("scripts/table_view.py"),
    output:
        page=report(
            "results/{analysis}/{model}/tables/{table}.html",
            caption="../report/key_tables.rst",
            category="{analysis}",
            subcategory="{model}",
            labels={"result": "{table} (table)"},
        ),
    log:
        "logs/{analysis}/{model}/table_view_{table}.log",
    wildcard_constraints:
        analysis="|".join(KEY_TABLES),
        table="|".join({table for tables in KEY_TABLES.values() for table in tables}),
    conda:
        "../envs/analysis.yaml"
    threads: CPU_STAGE["threads"]
    resources:
        mem_mb=CPU_STAGE["mem_mb"],
        runtime=CPU_STAGE["runtime"],
    params:
        max_rows=2000,
    script:
        "../scripts/table_view.py"

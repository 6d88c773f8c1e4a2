# One comparison per method: every run of its instances side by side, from each run's cached files
# (the method's `comparison_inputs`), tabulated and drawn by its package's `comparison` module.
for _method in METHODS:

    rule:
        name:
            f"{_method}_comparison"
        input:
            **comparison_inputs(_method),
            code=code(
                "scripts/comparison.py", f"interpflow.methods.{_method}.comparison"
            ),
        output:
            **comparison_outputs(_method),
        log:
            f"logs/{_method}/comparison.log",
        conda:
            "../envs/analysis.yaml"
        threads: CPU_STAGE["threads"]
        resources:
            **CPU_RESOURCES,
        params:
            method=_method,
            inputs=list(METHODS[_method].comparison_inputs),
            runs=comparison_runs(_method),
        script:
            "../scripts/comparison.py"

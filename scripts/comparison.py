"""A method's comparison: every run's cached files side by side in one table, and its figure."""

from importlib import import_module

from interpflow.plotting.comparison import write_comparison
from interpflow.runtime.comparison import Run, read_run_file
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
comparison = import_module(f"interpflow.methods.{snakemake.params.method}.comparison")
runs = [Run(**run) for run in snakemake.params.runs]
inputs = {argument: [read_run_file(path) for path in snakemake.input[argument]] for argument in snakemake.params.inputs}
write_comparison(comparison.comparison_table(runs, **inputs), comparison.comparison_figure, snakemake.output)
log.info("compared %d runs: %s", len(runs), ", ".join(run.label for run in runs))

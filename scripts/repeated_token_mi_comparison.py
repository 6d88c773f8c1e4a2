"""repeated_token_mi comparison: mean MI and Kendall's tau by layer of every instance and model, from cached tables."""

from interpflow.comparison import read_runs
from interpflow.methods.repeated_token_mi import comparison_table
from interpflow.plotting.comparison import write_comparison
from interpflow.plotting.repeated_token_mi import comparison
from interpflow.stage_logging import start_stage

log = start_stage(snakemake)
tables, runs = read_runs(snakemake.input.tables, snakemake.params.runs)
write_comparison(comparison_table(tables, runs), comparison, snakemake.output)
log.info("compared %d runs: %s", len(runs), ", ".join(run.label for run in runs))

"""subspace_removal comparison: the layer sweeps of every instance and model side by side, from cached tables."""

from interpflow.comparison import read_runs
from interpflow.methods.subspace_removal import comparison_table
from interpflow.plotting.comparison import write_comparison
from interpflow.plotting.subspace_removal import comparison
from interpflow.stage_logging import start_stage

log = start_stage(snakemake)
tables, runs = read_runs(snakemake.input.tables, snakemake.params.runs)
write_comparison(comparison_table(tables, runs), comparison, snakemake.output)
log.info("compared %d runs: %s", len(runs), ", ".join(run.label for run in runs))

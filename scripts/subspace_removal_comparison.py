"""subspace_removal comparison: the layer sweeps of every instance and model side by side, from cached tables."""

from interpflow.atomic_io import write_parquet
from interpflow.comparison import read_runs
from interpflow.methods.subspace_removal import comparison_table
from interpflow.plotting.style import save_figure
from interpflow.plotting.subspace_removal import comparison
from interpflow.stage_logging import log_to

log = log_to(snakemake.log[0])
tables, runs = read_runs(snakemake.input.tables, snakemake.params.runs)
table = comparison_table(tables, runs)
write_parquet(table, snakemake.output.table)
save_figure(comparison(table), snakemake.output.png, snakemake.output.svg)
log.info("compared %d runs: %s", len(runs), ", ".join(run.label for run in runs))

"""sparse_autoencoder comparison: loss curves and FVU of every instance and model, from cached training logs."""

import json
from pathlib import Path

from interpflow.comparison import read_runs
from interpflow.methods.sparse_autoencoder import comparison_table
from interpflow.plotting.comparison import write_comparison
from interpflow.plotting.sparse_autoencoder import comparison
from interpflow.stage_logging import start_stage

log = start_stage(snakemake)
logs, runs = read_runs(snakemake.input.tables, snakemake.params.runs)
final_fvus = [json.loads(Path(path).read_text())["fvu"] for path in snakemake.input.configs]
write_comparison(comparison_table(logs, final_fvus, runs), comparison, snakemake.output)
log.info("compared %d runs: %s", len(runs), ", ".join(run.label for run in runs))

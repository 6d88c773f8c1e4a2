"""streaming_sae comparison: every run's training curve and held-out FVU."""

import pandas as pd

from interpflow.comparison import read_runs
from interpflow.methods.streaming_sae import comparison_table
from interpflow.plotting.comparison import write_comparison
from interpflow.plotting.streaming_sae import comparison
from interpflow.stage_logging import start_stage

log = start_stage(snakemake)
logs, runs = read_runs(snakemake.input.training_logs, snakemake.params.runs)
evaluations = [pd.read_parquet(path) for path in snakemake.input.evaluations]
write_comparison(comparison_table(logs, evaluations, runs), comparison, snakemake.output)
log.info("compared %d runs: %s", len(runs), ", ".join(run.label for run in runs))

"""residual_decomposition: correlations and reconstruction error by block (all-layer runs)."""

import pandas as pd

from interpflow.methods.residual_decomposition.figures import plot_layer_profile
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
save_figures({"layer_profile": plot_layer_profile(pd.read_parquet(snakemake.input.correlations))}, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

"""residual_decomposition: the seed's 2x2 panel for the figure layer."""

import pandas as pd

from interpflow.methods.residual_decomposition.figures import plot_decomposition
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
params = snakemake.params
table = pd.read_parquet(snakemake.input.correlations)
values = pd.read_parquet(snakemake.input.values)
fig = plot_decomposition(values, table, params.figure_layer, params.plot["marker_size"], params.plot["alpha"])
save_figures({"decomposition": fig}, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

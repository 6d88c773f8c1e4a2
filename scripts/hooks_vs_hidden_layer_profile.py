"""hooks_vs_hidden: correlations and reconstruction error by block (all-layer runs)."""

import pandas as pd

from interpflow.plotting.hooks_vs_hidden import plot_layer_profile
from interpflow.plotting.style import save_figure
from interpflow.stage_logging import log_to

log = log_to(snakemake.log[0])
save_figure(
    plot_layer_profile(pd.read_parquet(snakemake.input.correlations)), snakemake.output.png, snakemake.output.svg
)
log.info("wrote %s and %s", snakemake.output.png, snakemake.output.svg)

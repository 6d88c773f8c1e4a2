"""streaming_sae figures: training curves and latent statistics."""

import pandas as pd

from interpflow.methods.streaming_sae import figures as plots
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
inputs = snakemake.input
evaluation = pd.read_parquet(inputs.evaluation)
figures = {
    "loss_curves": plots.loss_curves(pd.read_parquet(inputs.training_log), evaluation),
    "latent_statistics": plots.latent_statistics(pd.read_parquet(inputs.latents)),
}
save_figures(figures, snakemake.output)
log.info("drew %s", ", ".join(figures))

"""logit_lens figures: the top-token grid of one text, and rank, probability and KL by layer."""

import pandas as pd

from interpflow.methods.logit_lens.figures import by_layer_figure, top_tokens_figure
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
params = snakemake.params
lens = pd.read_parquet(snakemake.input.lens)
top = pd.read_parquet(snakemake.input.top_tokens)
figures = {
    "top_tokens": top_tokens_figure(top, lens, params.figure_text, params.figure_positions),
    "by_layer": by_layer_figure(lens),
}
save_figures(figures, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

"""direct_logit_attribution figure: each head's term, and each block's attention and MLP terms."""

import pandas as pd

from interpflow.methods.direct_logit_attribution.figures import attribution_figure
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
table = pd.read_parquet(snakemake.input.attribution)
save_figures({"attribution": attribution_figure(table)}, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

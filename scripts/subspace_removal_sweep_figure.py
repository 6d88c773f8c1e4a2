"""subspace_removal: t statistic and top-component variance across every layer."""

import pandas as pd

from interpflow.methods.subspace_removal.figures import layer_sweep
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
save_figures({"layer_sweep": layer_sweep(pd.read_parquet(snakemake.input.layer_sweep))}, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

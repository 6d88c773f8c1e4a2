"""edge_attribution_patching figure: the circuit as a graph of the model's components."""

import pandas as pd

from interpflow.methods.edge_attribution_patching.figures import circuit_figure
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
save_figures({"circuit": circuit_figure(pd.read_parquet(snakemake.input.edges))}, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

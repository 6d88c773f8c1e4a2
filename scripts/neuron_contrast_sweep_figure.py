"""neuron_contrast: significant neurons and clusters across every tested layer."""

import pandas as pd

from interpflow.methods.neuron_contrast.figures import layer_sweep
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
tests = pd.read_parquet(snakemake.input.neuron_tests)
clusters = pd.read_parquet(snakemake.input.neuron_clusters)
save_figures({"layer_sweep": layer_sweep(tests, clusters)}, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

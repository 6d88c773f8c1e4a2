"""subspace_removal: activation histogram and the 2x3 inspection panel of one layer."""

import pandas as pd
from safetensors.numpy import load_file

from interpflow.methods.subspace_removal import figures as plots
from interpflow.models.sites import block_site
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
params = snakemake.params
matrices = load_file(snakemake.input.matrices)
spectrum = pd.read_parquet(snakemake.input.spectrum)
site = block_site(params.layer, params.neuron_site)
figures = {
    "activation_histogram": plots.activation_histogram(matrices["original"], site, params.plot["bins"]),
    "inspection": plots.inspection(matrices, spectrum, site, params.n_components, params.plot["bins"]),
}
save_figures(figures, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

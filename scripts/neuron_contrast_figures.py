"""neuron_contrast figures for one layer, from the statistics stage's tables and activations."""

import numpy as np
import pandas as pd
from safetensors.numpy import load_file

from interpflow.methods.neuron_contrast import figures as plots
from interpflow.models.sites import block_site
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
params, inputs = snakemake.params, snakemake.input
layer, names, plot = int(snakemake.wildcards.layer), params.groups, params.plot
site = block_site(layer, params.neuron_site)
arrays = load_file(inputs.activations)
acts, first_group = arrays[f"layer_{layer}"], arrays["first_group"].astype(bool)
tests = pd.read_parquet(inputs.neuron_tests).query("layer == @layer")
clusters = pd.read_parquet(inputs.neuron_clusters).query("layer == @layer")
neuron = plot["example_neuron"]
if neuron is None:
    neuron = int(np.random.default_rng(plot["seed"]).integers(acts.shape[1]))
figures = {
    "activations": plots.activations(acts, first_group, names, site),
    "example_neuron": plots.example_neuron(acts, first_group, names, neuron, site),
    "t_values": plots.t_values(tests, names, params.correction),
    "tsne": plots.tsne(acts, clusters),
    "dbscan": plots.dbscan(clusters),
    "dbscan_similarity": plots.dbscan_similarity(acts, clusters, plot["bins"]),
    "kmeans": plots.kmeans(acts, clusters),
}
save_figures(figures, snakemake.output)
log.info("layer %d: wrote %s", layer, ", ".join(snakemake.output))

"""subspace_removal, one layer from the cache: original vs reconstructed activations and covariances."""

from interpflow.methods.subspace_removal.analysis import spectrum_table
from interpflow.methods.subspace_removal.subspace import inspection_matrices
from interpflow.models.sites import block_site
from interpflow.runtime.atomic_io import write_parquet, write_safetensors
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.activation_store import load_store

log = start_stage(snakemake)
params = snakemake.params
site = block_site(params.layer, params.neuron_site)
original = load_store(snakemake.input.tensors, snakemake.input.tokens, sites=[site])[site]
matrices = inspection_matrices(original, params.n_components)
write_safetensors(matrices, snakemake.output.matrices)
write_parquet(spectrum_table(params.layer, matrices["original"], matrices["reconstructed"]), snakemake.output.spectrum)
log.info("%s: %d tokens x %d neurons, top %d component(s) removed", site, *original.shape, params.n_components)

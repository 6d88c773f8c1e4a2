"""neuron_contrast statistics: t-tests per neuron, t-SNE, DBSCAN and k-means, for every tested layer."""

from interpflow.methods.neuron_contrast.analysis import analyse
from interpflow.runtime.atomic_io import write_parquet, write_safetensors
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.activation_store import load_store
from interpflow.stores.texts import read_text_set

log = start_stage(snakemake)
params = snakemake.params
store = load_store(snakemake.input.tensors, snakemake.input.tokens)
text_set = read_text_set(snakemake.input.text, **params.columns)
results = analyse(store, text_set.texts, text_set.groups, params.options, params.n_layer)
for note in results["notes"]:
    log.warning("%s", note)
write_safetensors(results["activations"], snakemake.output.activations)
for name in ("neuron_tests", "neuron_clusters", "cluster_summary"):
    write_parquet(results[name], snakemake.output[name])
log.info("cluster summary:\n%s", results["cluster_summary"].to_string(index=False))

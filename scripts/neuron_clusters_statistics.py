"""neuron_clusters statistics: t-tests per neuron, t-SNE, DBSCAN and k-means, for every tested layer."""

from interpflow.activation_store import load_store
from interpflow.analyses.neuron_clusters import analyse, read_groups
from interpflow.atomic_io import write_parquet, write_safetensors
from interpflow.stage_logging import log_to
from interpflow.texts import read_text_set

log = log_to(snakemake.log[0])
params = snakemake.params
store = load_store(snakemake.input.tensors, snakemake.input.tokens)
sentences = read_text_set(snakemake.input.text, params.column)
groups = read_groups(snakemake.input.text, params.section["group_column"])
results = analyse(store, sentences, groups, params.section, params.n_layer)
for note in results["notes"]:
    log.warning("%s", note)
write_safetensors(results["activations"], snakemake.output.activations)
for name in ("neuron_tests", "neuron_clusters", "cluster_summary"):
    write_parquet(results[name], snakemake.output[name])
log.info("cluster summary:\n%s", results["cluster_summary"].to_string(index=False))

"""edge_attribution_patching model stage: every edge's term over every pair, and the circuit."""

from interpflow.methods.edge_attribution_patching.edges import attribute_edges
from interpflow.models.devices import resolve_device
from interpflow.models.loading import load_model
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.activation_store import load_store

log = start_stage(snakemake)
params = snakemake.params
device = resolve_device(params.device)
model, tokenizer = load_model(snakemake.input.model, device, n_layer=params.n_layer, dtype=params.model_dtype)
store = load_store(snakemake.input.tensors, snakemake.input.tokens)
text_column = params.text_options["text_column"]
tables = attribute_edges(model, tokenizer, store, snakemake.input.pairs, text_column, params.options)
write_parquet(tables["edges"], snakemake.output.edges)
write_parquet(tables["pairs"], snakemake.output.pairs)
circuit = tables["edges"][tables["edges"]["in_circuit"]].sort_values("score", key=abs, ascending=False)
log.info(
    "%d edges over %d pairs; the circuit:\n%s",
    len(tables["edges"]),
    len(tables["pairs"]),
    circuit.to_string(index=False),
)

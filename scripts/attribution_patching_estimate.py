"""attribution_patching model stage: every estimated site, block and position (or head, or neuron), over every pair."""

from interpflow.methods.attribution_patching.gradients import attribute_pairs
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
tables = attribute_pairs(model, tokenizer, store, snakemake.input.pairs, text_column, params.options)
for table, output in (
    ("patching", "patching"),
    ("patching_by_pair", "by_pair"),
    ("pairs", "pairs"),
    ("neurons", "neurons"),
):
    write_parquet(tables[table], snakemake.output[output])
log.info("estimated %d pairs:\n%s", len(tables["pairs"]), tables["pairs"].to_string(index=False))

"""direct_logit_attribution model stage: every head's, MLP's (and neuron's) term of each pair's logit difference."""

from interpflow.methods.direct_logit_attribution.attribution import attribute_pairs
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
write_parquet(tables["attribution"], snakemake.output.attribution)
write_parquet(tables["attribution_by_pair"], snakemake.output.by_pair)
write_parquet(tables["pairs"], snakemake.output.pairs)
log.info("attributed %d pairs:\n%s", len(tables["pairs"]), tables["pairs"].to_string(index=False))

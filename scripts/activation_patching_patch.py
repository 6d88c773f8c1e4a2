"""activation_patching model stage: every patched site, block and position (or head), over every prompt pair."""

from interpflow.methods.activation_patching.patching import patch_pairs
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
tables = patch_pairs(model, tokenizer, store, snakemake.input.pairs, params.text_options["text_column"], params.options)
write_parquet(tables["patching"], snakemake.output.patching)
write_parquet(tables["patching_by_pair"], snakemake.output.by_pair)
write_parquet(tables["pairs"], snakemake.output.pairs)
log.info("patched %d pairs:\n%s", len(tables["pairs"]), tables["pairs"].to_string(index=False))

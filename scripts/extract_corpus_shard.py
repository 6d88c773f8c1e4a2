"""One shard of a corpus through the model: every site its instances need, a batch of windows at a time."""

from interpflow.models.devices import resolve_device
from interpflow.models.loading import load_model
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.shard_extraction import extract_shard

log = start_stage(snakemake)
params = snakemake.params
device = resolve_device(params.device)
model, _ = load_model(snakemake.input.model, device, n_layer=params.n_layer, dtype=params.model_dtype)
log.info("%d sites, stored as %s: %s", len(params.sites), params.dtype, ", ".join(params.sites))
windows = extract_shard(
    model,
    snakemake.input.tokens,
    int(snakemake.wildcards.shard),
    params.context_size,
    params.sites,
    snakemake.output[0],
    dtype=params.dtype,
    batch_size=params.batch_windows,
    log=log,
)
log.info("stored %d windows (%d tokens)", windows, windows * params.context_size)

"""streaming_sae model stage: train on the corpus store's training shards, resuming from a checkpoint."""

from pathlib import Path

from interpflow.models.devices import resolve_device
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.streaming import StreamingSAEConfig, save_sae, train
from interpflow.stores.corpus_store import CorpusStore

log = start_stage(snakemake)
params = snakemake.params
store = CorpusStore(snakemake.input.manifest)
sae = dict(params.sae)
input_dim = store.width(params.site)
config = StreamingSAEConfig(
    site=params.site,
    input_dim=input_dim,
    latent_dim=sae.pop("latent_factor") * input_dim,
    **sae,
)
log.info("%s, %d steps of %d tokens", config, config.steps, config.batch_tokens)
model, training_log = train(store, config, resolve_device(params.device), checkpoint=params.checkpoint)
save_sae(model, config, snakemake.output.weights)
write_parquet(training_log, snakemake.output.training_log)
Path(params.checkpoint).unlink(missing_ok=True)  # the run is complete: nothing left to resume
log.info("final minibatch fvu %.4f, l0 %.1f", training_log["fvu"].iloc[-1], training_log["l0"].iloc[-1])

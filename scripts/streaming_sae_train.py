"""streaming_sae model stage: train on the corpus store's training shards, resuming from a checkpoint."""

from pathlib import Path

from interpflow.models.devices import resolve_device
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.core.streaming import streaming_configs, train_streaming
from interpflow.sae.files import save_sae
from interpflow.stores.corpus_store import CorpusStore

log = start_stage(snakemake)
params, output, wildcards = snakemake.params, snakemake.output, snakemake.wildcards
store = CorpusStore(snakemake.input.manifest)
config, schedule = streaming_configs(params.site, store.width(params.site), params.sae)
log.info("%s, %s: %d steps", config, schedule, schedule.steps)
device = resolve_device(params.device)
model, training_log = train_streaming(store, config, schedule, device, checkpoint=params.checkpoint)
training = schedule.to_dict()
save_sae(model, config, output.weights, output.config, training, instance=wildcards.instance, model=wildcards.model)
write_parquet(training_log, output.training_log)
Path(params.checkpoint).unlink(missing_ok=True)  # the run is complete: nothing left to resume
log.info("final minibatch fvu %.4f, l0 %.1f", training_log["fvu"].iloc[-1], training_log["l0"].iloc[-1])

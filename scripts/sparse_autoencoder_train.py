"""sparse_autoencoder model stage: train the k-sparse autoencoder on cached MLP neurons (neuron_site)
full batch, and evaluate it on the tokens it was trained on."""

from interpflow.methods.sparse_autoencoder.analysis import encode_and_evaluate, sae_config
from interpflow.models.devices import resolve_device
from interpflow.runtime.atomic_io import write_parquet, write_safetensors
from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.core.training import train_full_batch
from interpflow.sae.files import save_sae
from interpflow.stores.activation_store import load_store

log = start_stage(snakemake)
params, output, wildcards = snakemake.params, snakemake.output, snakemake.wildcards
store = load_store(snakemake.input.tensors, snakemake.input.tokens, sites=[params.site])
x = store[params.site]
config = sae_config(params.site, x.shape[1], params.sae)
training = {"epochs": params.sae["epochs"], "dtype": params.sae["dtype"]}
log.info("training on %s: %d tokens x %d, %s", params.site, *x.shape, config)
device = resolve_device(params.device)
model, training_log = train_full_batch(x, config, training["epochs"], device, dtype=training["dtype"])
latents, evaluation = encode_and_evaluate(model, x)
save_sae(model, config, output.weights, output.config, training, instance=wildcards.instance, model=wildcards.model)
write_safetensors({"latents": latents}, output.latents)
write_parquet(training_log, output.training_log)
write_parquet(evaluation, output.evaluation)
log.info("final loss %.5f; on the training tokens: %s", training_log["loss"].iloc[-1], evaluation.iloc[0].to_dict())

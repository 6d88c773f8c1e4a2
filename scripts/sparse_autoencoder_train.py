"""sparse_autoencoder model stage: train the k-sparse autoencoder on cached MLP neurons (neuron_site)."""

import json

from interpflow.methods.sparse_autoencoder.analysis import sae_dimensions
from interpflow.models.devices import resolve_device
from interpflow.runtime.atomic_io import write_parquet, write_safetensors, write_text
from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.autoencoder import SAEConfig, fraction_of_variance_unexplained, latent_activations, train
from interpflow.stores.activation_store import load_store

log = start_stage(snakemake)
params = snakemake.params
store = load_store(snakemake.input.tensors, snakemake.input.tokens, sites=[params.site])
x = store[params.site]
sae = params.sae
config = SAEConfig(
    input_dim=x.shape[1],
    **sae_dimensions(sae, x.shape[1]),
    l1_weight=sae["l1_weight"],
    decorrelation_weight=sae["decorrelation_weight"],
    learning_rate=sae["learning_rate"],
    epochs=sae["epochs"],
    seed=sae["seed"],
)
log.info("training on %s: %d tokens x %d, %s", params.site, *x.shape, config)
model, training_log = train(x, config, resolve_device(params.device))
fvu = fraction_of_variance_unexplained(model, x)
write_safetensors({"encoder.weight": model.encoder.weight.detach().cpu().numpy()}, snakemake.output.weights)
wildcards = snakemake.wildcards
run = {
    "sae": config.to_dict(),
    "site": params.site,
    "instance": wildcards.instance,
    "model": wildcards.model,
    "fvu": fvu,
}
write_text(json.dumps(run, indent=2, sort_keys=True) + "\n", snakemake.output.config)
write_safetensors({"latents": latent_activations(model, x)}, snakemake.output.latents)
write_parquet(training_log, snakemake.output.training_log)
log.info("final loss %.5f, fraction of variance unexplained %.4f", training_log["total_loss"].iloc[-1], fvu)

"""subspace_removal model stage: intervened runs at the intervention layer (and every layer when sweeping)."""

from interpflow.methods.subspace_removal.analysis import intervention_outputs
from interpflow.methods.subspace_removal.interventions import run_interventions
from interpflow.models.devices import resolve_device
from interpflow.models.loading import load_model
from interpflow.runtime.atomic_io import write_parquet, write_safetensors
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.activation_store import load_store

log = start_stage(snakemake)
params = snakemake.params
device = resolve_device(params.device)
model, _ = load_model(snakemake.input.model, device, n_layer=params.n_layer, dtype=params.model_dtype)
store = load_store(snakemake.input.tensors, snakemake.input.tokens)
log.info(
    "%s engine, layers %s, %d component(s) of %s removed",
    params.engine,
    params.layers,
    params.n_components,
    params.neuron_site,
)
runs = run_interventions(
    model, store, params.layers, params.n_components, params.engine, params.batch_size, params.neuron_site
)
outputs = intervention_outputs(runs, store, params.intervention_layer, params.neuron_site, params.n_layer)
write_safetensors(outputs["cosine_similarity"], snakemake.output.cosine_similarity)
for name in ("hidden_state_impact", "logit_impact", "layer_sweep"):
    write_parquet(outputs[name], snakemake.output[name])
log.info("layer sweep:\n%s", outputs["layer_sweep"].to_string(index=False))

"""Both SAE methods: write the trained SAE as a SAELens folder (cfg.json, sae_weights.safetensors,
sparsity.safetensors) beside interpflow's own files."""

import json
from pathlib import Path

import pandas as pd

from interpflow.models.hf_hook_names import hf_module_output
from interpflow.runtime import provenance
from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.files import load_sae, read_sae_config
from interpflow.sae.interop.saelens import write_saelens_folder

log = start_stage(snakemake)
inputs, params = snakemake.input, snakemake.params
sae, config = load_sae(inputs.weights, inputs.config)
_, record = read_sae_config(inputs.config)
record["provenance"] = provenance.read(inputs.weights)  # how the SAE was trained, from its weights file
density = pd.read_parquet(inputs.latents)["density"].to_numpy()
model = params.model
model_type = json.loads((Path(inputs.model) / "config.json").read_text(encoding="utf-8"))["model_type"]
metadata = {
    "model_name": model.get("hub_id", snakemake.wildcards.model),
    "model_revision": model.get("revision"),
    "hf_hook_name": hf_module_output(model_type, config.site),
    **params.activations,
}
write_saelens_folder(snakemake.output.folder, sae, config, record, density, **metadata)
log.info("SAELens folder for %s on %s: %s", config.variant, config.site, metadata)

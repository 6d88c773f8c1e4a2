"""Copy a hub model (safetensors + tokenizer) into its model folder, from the HF cache or the hub."""

from interpflow.models.loading import ModelUnavailableError, provision_hub_model
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
params = snakemake.params
try:
    provision_hub_model(snakemake.wildcards.model, params.hub_id, snakemake.output[0], params.revision)
except ModelUnavailableError as error:  # one message with the ways out; the hub client's traceback says no more
    log.error("%s", error)
    raise SystemExit(1) from None
log.info("provisioned %s (revision %s) into %s", params.hub_id, params.revision or "unpinned", snakemake.output[0])

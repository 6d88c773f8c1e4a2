"""Copy a hub model (safetensors + tokenizer) into its model folder, from the HF cache or the hub."""

from interpflow.models import provision_hub_model
from interpflow.stage_logging import log_to

log = log_to(snakemake.log[0])
provision_hub_model(snakemake.wildcards.model, snakemake.params.hub_id, snakemake.output[0])
log.info("provisioned %s into %s", snakemake.params.hub_id, snakemake.output[0])

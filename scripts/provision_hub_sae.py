"""Copy a hub SAE's folder into <model_dir>/saes/<name>, from the HF cache or the hub, with its files' sha256."""

from interpflow.runtime.errors import ConfigError
from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.interop.pretrained_entries import provision_hub_sae

log = start_stage(snakemake)
name, entry = snakemake.wildcards.sae, snakemake.params.entry
try:
    provision_hub_sae(name, entry, snakemake.output[0])
except ConfigError as error:  # one message with the ways out; the hub client's traceback says no more
    log.error("%s", error)
    raise SystemExit(1) from None
if not entry.get("revision"):
    log.warning("SAE '%s' is not pinned: set saes.%s.revision to the commit recorded in its folder", name, name)
log.info("provisioned %s/%s (revision %s)", entry["hub_id"], entry["folder"], entry.get("revision") or "unpinned")

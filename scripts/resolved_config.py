"""Write the configuration the workflow runs on: overlays merged, removed instances gone, defaults filled in."""

import yaml

from interpflow.runtime.atomic_io import write_text
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
write_text(yaml.safe_dump(dict(snakemake.params.config), sort_keys=False), snakemake.output[0])
log.info("wrote %s", snakemake.output[0])

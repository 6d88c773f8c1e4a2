"""Store a model's weights once in the dtype it computes in (config ``models.<name>.dtype``)."""

from interpflow.models.loading import store_model_in_dtype
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
store_model_in_dtype(snakemake.input.source, snakemake.output[0], snakemake.wildcards.dtype)
log.info("stored %s in %s into %s", snakemake.input.source, snakemake.wildcards.dtype, snakemake.output[0])

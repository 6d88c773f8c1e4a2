"""Build the embedded model: GPT-2 architecture, seeded random weights, vendored tokenizer."""

from pathlib import Path

from interpflow.models.loading import build_embedded_model
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
build_embedded_model(snakemake.params.spec, Path(snakemake.input.vocab).parent, snakemake.output[0])
log.info("built embedded model %s with %s", snakemake.output[0], snakemake.params.spec)

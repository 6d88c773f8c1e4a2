"""activation_patching model stage: every patched site, block and position (or head), over every prompt pair."""

from interpflow.circuits.pair_stage import run_on_pairs
from interpflow.methods.activation_patching.patching import patch_pairs
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
tables = run_on_pairs(snakemake, patch_pairs)
write_parquet(tables["patching"], snakemake.output.patching)
write_parquet(tables["patching_by_pair"], snakemake.output.by_pair)
write_parquet(tables["pairs"], snakemake.output.pairs)
log.info("patched %d pairs:\n%s", len(tables["pairs"]), tables["pairs"].to_string(index=False))

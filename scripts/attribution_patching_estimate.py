"""attribution_patching model stage: every estimated site, block and position (or head, or neuron), over every pair."""

from interpflow.circuits.pair_stage import run_on_pairs
from interpflow.methods.attribution_patching.gradients import attribute_pairs
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
tables = run_on_pairs(snakemake, attribute_pairs)
for table, output in (
    ("patching", "patching"),
    ("patching_by_pair", "by_pair"),
    ("pairs", "pairs"),
    ("neurons", "neurons"),
):
    write_parquet(tables[table], snakemake.output[output])
log.info("estimated %d pairs:\n%s", len(tables["pairs"]), tables["pairs"].to_string(index=False))

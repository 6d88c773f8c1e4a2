"""direct_logit_attribution model stage: every head's, MLP's (and neuron's) term of each pair's logit difference."""

from interpflow.circuits.pair_stage import run_on_pairs
from interpflow.methods.direct_logit_attribution.attribution import attribute_pairs
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
tables = run_on_pairs(snakemake, attribute_pairs)
write_parquet(tables["attribution"], snakemake.output.attribution)
write_parquet(tables["attribution_by_pair"], snakemake.output.by_pair)
write_parquet(tables["pairs"], snakemake.output.pairs)
log.info("attributed %d pairs:\n%s", len(tables["pairs"]), tables["pairs"].to_string(index=False))

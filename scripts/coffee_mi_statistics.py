"""coffee_mi statistics: MI of every pair of target occurrences, every layer and sublayer, both estimators."""

from interpflow.activation_store import load_store
from interpflow.analyses import coffee_mi
from interpflow.atomic_io import write_parquet
from interpflow.stage_logging import log_to

log = log_to(snakemake.log[0])
params = snakemake.params
section = params.section
store = load_store(snakemake.input.tensors, snakemake.input.tokens)
positions = coffee_mi.find_targets(store, section["target"])
log.info("target %r at positions %s", section["target"], positions)
pairs = coffee_mi.pairwise_mi_table(store, positions, params.n_layer, section, threads=snakemake.threads)
summary = coffee_mi.layer_summary(pairs)
points, values = coffee_mi.example_pair(store, positions, section)
write_parquet(pairs, snakemake.output.pairwise_mi)
write_parquet(summary, snakemake.output.layer_summary)
write_parquet(coffee_mi.sublayer_tests(pairs, summary, section["alpha"]), snakemake.output.sublayer_tests)
write_parquet(points, snakemake.output.example_points)
write_parquet(values, snakemake.output.example_mi)
log.info("example pair MI:\n%s", values.to_string(index=False))

"""repeated_token_mi statistics: MI of every pair of target occurrences, every layer and sublayer, both estimators."""

from interpflow.methods.repeated_token_mi import analysis as repeated_token_mi
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.activation_store import load_store

log = start_stage(snakemake)
params = snakemake.params
options = params.options
store = load_store(snakemake.input.tensors, snakemake.input.tokens)
positions = repeated_token_mi.find_targets(store, options["target"])
log.info("target %r at positions %s", options["target"], positions)
pairs = repeated_token_mi.pairwise_mi_table(store, positions, params.n_layer, options, threads=snakemake.threads)
summary = repeated_token_mi.layer_summary(pairs)
points, values = repeated_token_mi.example_pair(store, positions, options, params.layer)
write_parquet(pairs, snakemake.output.pairwise_mi)
write_parquet(summary, snakemake.output.layer_summary)
write_parquet(repeated_token_mi.sublayer_tests(pairs, summary, options["alpha"]), snakemake.output.sublayer_tests)
write_parquet(points, snakemake.output.example_points)
write_parquet(values, snakemake.output.example_mi)
log.info("example pair MI:\n%s", values.to_string(index=False))

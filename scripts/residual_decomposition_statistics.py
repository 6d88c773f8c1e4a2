"""residual_decomposition statistics: correlations per block, and the values behind the figure."""

from interpflow.methods.residual_decomposition.analysis import comparison_values, correlation_table
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.activation_store import load_store

log = start_stage(snakemake)
params = snakemake.params
store = load_store(snakemake.input.tensors, snakemake.input.tokens)
table = correlation_table(store, params.layers, params.clip_threshold, params.n_layer)
write_parquet(table, snakemake.output.correlations)
values = comparison_values(store, params.figure_layer, params.clip_threshold, params.n_layer)
write_parquet(values, snakemake.output.values)
log.info("correlations for layers %s:\n%s", params.layers, table.to_string(index=False))

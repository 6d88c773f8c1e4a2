"""edge_attribution_patching model stage: every edge's term over every pair, and the circuit."""

from interpflow.circuits.pair_stage import run_on_pairs
from interpflow.methods.edge_attribution_patching.edges import attribute_edges
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
tables = run_on_pairs(snakemake, attribute_edges)
write_parquet(tables["edges"], snakemake.output.edges)
write_parquet(tables["pairs"], snakemake.output.pairs)
circuit = tables["edges"][tables["edges"]["in_circuit"]].sort_values("score", key=abs, ascending=False)
log.info(
    "%d edges over %d pairs; the circuit:\n%s",
    len(tables["edges"]),
    len(tables["pairs"]),
    circuit.to_string(index=False),
)

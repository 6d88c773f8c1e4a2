"""repeated_token_mi figures, from the statistics tables (no model, no activations)."""

import pandas as pd

from interpflow.methods.repeated_token_mi import figures as plots
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
params, inputs = snakemake.params, snakemake.input
pairs = pd.read_parquet(inputs.pairwise_mi)
summary = pd.read_parquet(inputs.layer_summary)
tests = pd.read_parquet(inputs.sublayer_tests)
figures = {
    "one_layer": plots.one_layer(pairs, summary, params.layer, params.sublayer, "histogram"),
    "example_pair": plots.example_pair(
        pd.read_parquet(inputs.example_points),
        pd.read_parquet(inputs.example_mi),
        params.layer,
        params.sublayer,
        params.outlier_threshold,
    ),
    "layers_histogram": plots.layers(summary, tests, "histogram"),
    "layers_knn": plots.layers(summary, tests, "knn"),
    "estimators": plots.estimators(summary),
}
save_figures(figures, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

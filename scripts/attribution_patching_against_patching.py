"""attribution_patching against activation patching: each slot's estimate and its patched score, per site."""

import pandas as pd

from interpflow.methods.attribution_patching.against_patching import (
    against_patching_figure,
    against_patching_table,
    site_correlation,
)
from interpflow.plotting.style import save_figures
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
table = against_patching_table(pd.read_parquet(snakemake.input.estimated), pd.read_parquet(snakemake.input.patched))
write_parquet(table, snakemake.output.table)
save_figures({"against_patching": against_patching_figure(table)}, snakemake.output)
for site, rows in table.groupby("site", sort=False):
    log.info("%s: r = %.3f over %d slots", site, site_correlation(rows), len(rows))

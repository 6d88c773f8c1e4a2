"""A key table as an HTML page for the report."""

import pandas as pd

from interpflow.plotting.table_view import table_page
from interpflow.runtime.atomic_io import write_text
from interpflow.runtime.provenance import read
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
frame = pd.read_parquet(snakemake.input.table)
wildcards = snakemake.wildcards
title = f"{wildcards.method} {wildcards.instance}: {wildcards.table} ({wildcards.model})"
page = table_page(frame, title, snakemake.params.max_rows, provenance=read(snakemake.input.table))
write_text(page, snakemake.output.page)
log.info("%d of %d rows shown in %s", min(len(frame), snakemake.params.max_rows), len(frame), snakemake.output.page)

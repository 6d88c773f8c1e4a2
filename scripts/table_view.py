"""A key table as an HTML page for the report."""

import pandas as pd

from interpflow.atomic_io import write_text
from interpflow.plotting.table_view import table_page
from interpflow.stage_logging import log_to

log = log_to(snakemake.log[0])
frame = pd.read_parquet(snakemake.input.table)
wildcards = snakemake.wildcards
title = f"{wildcards.method} {wildcards.instance}: {wildcards.table} ({wildcards.model})"
write_text(table_page(frame, title, snakemake.params.max_rows), snakemake.output.page)
log.info("%d of %d rows shown in %s", min(len(frame), snakemake.params.max_rows), len(frame), snakemake.output.page)

"""activation_patching figure: every patched site's scores, block by position or by head."""

import pandas as pd

from interpflow.circuits.patch_figures import patching_figure
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
table = pd.read_parquet(snakemake.input.patching)
tokens = pd.read_parquet(snakemake.input.tokens).query("text_id == 0").sort_values("position")["token"].tolist()
save_figures({"patching": patching_figure(table, tokens)}, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

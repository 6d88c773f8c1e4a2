"""subspace_removal: hidden-state impact, cosine similarities and next-token log-prob changes at one layer."""

import pandas as pd
from safetensors.numpy import load_file

from interpflow.methods.subspace_removal import figures as plots
from interpflow.plotting.style import save_figures
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
params, inputs = snakemake.params, snakemake.input
layer = params.layer
tokens = pd.read_parquet(inputs.tokens)
logit_impact = pd.read_parquet(inputs.logit_impact)
cosine = load_file(inputs.cosine_similarity)
figures = {
    "hidden_state_impact": plots.hidden_state_impact(pd.read_parquet(inputs.hidden_state_impact), layer),
    "cosine_similarity": plots.cosine_similarity(cosine["clean"], cosine["intervened"], layer, params.plot["bins"]),
    "logit_impact_stem": plots.logit_impact_stem(logit_impact, tokens, layer),
    "logit_impact_text": plots.logit_impact_text(logit_impact, tokens, layer),
}
save_figures(figures, snakemake.output)
log.info("wrote %s", ", ".join(snakemake.output))

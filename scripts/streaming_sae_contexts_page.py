"""streaming_sae page: every shown latent's statistics, activation histogram, logit effect and shaded top
contexts, sortable."""

import pandas as pd

from interpflow.methods.streaming_sae.figures import contexts_page
from interpflow.runtime.atomic_io import write_text
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
inputs, params = snakemake.input, snakemake.params
latents = pd.read_parquet(inputs.latents)
page = contexts_page(
    latents,
    pd.read_parquet(inputs.top_contexts),
    pd.read_parquet(inputs.evaluation),
    params.title,
    params.max_latents,
    histograms=pd.read_parquet(inputs.activation_histograms),
    logits=pd.read_parquet(inputs.logit_tokens),
    shading=pd.read_parquet(inputs.context_activations),
)
write_text(page, snakemake.output.page)
log.info(
    "page of %d latents (%d fire)",
    min(params.max_latents, int((latents["density"] > 0).sum())),
    (latents["density"] > 0).sum(),
)

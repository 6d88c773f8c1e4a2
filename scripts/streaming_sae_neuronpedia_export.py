"""streaming_sae: every latent in SAEDashboard's Neuronpedia JSON layout, batches of 128, ready to upload."""

import pandas as pd

from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.interop.neuronpedia import neuronpedia_features, write_neuronpedia_batches

log = start_stage(snakemake)
inputs, params = snakemake.input, snakemake.params
evaluation = pd.read_parquet(inputs.evaluation).iloc[0]
features = neuronpedia_features(
    pd.read_parquet(inputs.latents),
    pd.read_parquet(inputs.activation_histograms),
    pd.read_parquet(inputs.logit_tokens),
    pd.read_parquet(inputs.context_activations),
    evaluated={
        "n_prompts_total": int(evaluation["tokens"]) // params.tokens_per_window,
        "n_tokens_in_prompt": params.tokens_per_window,
        "dataset": params.dataset,
    },
)
write_neuronpedia_batches(snakemake.output.folder, features, params.model_id, params.layer, params.sae_set)
log.info(
    "%d latents for Neuronpedia (model %s, layer %d, set %s)",
    len(features),
    params.model_id,
    params.layer,
    params.sae_set,
)

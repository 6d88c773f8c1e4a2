"""streaming_sae: the tokens each latent's decoder direction raises and lowers most through the unembedding."""

import pandas as pd

from interpflow.models.devices import resolve_device
from interpflow.models.loading import load_model
from interpflow.models.unembedding import Unembedding
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.evaluation.logit_tokens import LOGIT_COLUMNS, logit_tokens
from interpflow.sae.files import load_sae

log = start_stage(snakemake)
inputs, params = snakemake.input, snakemake.params
device = resolve_device(params.device)
sae, config = load_sae(inputs.weights, inputs.config, device)
model, _ = load_model(inputs.model, device, n_layer=params.n_layer, dtype=params.model_dtype)
unembedding = Unembedding.of(model)
vocabulary = pd.read_parquet(inputs.vocabulary)["token"].tolist()
if sae.W_dec.shape[1] == unembedding.W_U.shape[0]:
    table = logit_tokens(sae.W_dec, unembedding, vocabulary, params.n)
else:  # MLP neurons: a direction there has no direct effect on the logits
    table = pd.DataFrame({column: [] for column in LOGIT_COLUMNS})
    log.info(
        "%s is %d wide, not the residual stream's %d: no logit tokens",
        config.site,
        sae.W_dec.shape[1],
        unembedding.W_U.shape[0],
    )
write_parquet(table, snakemake.output.logit_tokens)
log.info("%d latents, %d tokens each way", sae.W_dec.shape[0], params.n)

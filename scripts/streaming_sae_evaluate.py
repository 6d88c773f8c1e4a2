"""streaming_sae evaluation: held-out FVU and dead latents, latent statistics, top-activating contexts."""

import pandas as pd

from interpflow.methods.streaming_sae.evaluation import evaluate
from interpflow.models.devices import resolve_device
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.files import load_sae
from interpflow.sae.streaming import heldout_shards
from interpflow.stores.corpus_store import CorpusStore

log = start_stage(snakemake)
params = snakemake.params
model, config = load_sae(snakemake.input.weights, snakemake.input.config, resolve_device(params.device))
store = CorpusStore(snakemake.input.manifest)
vocabulary = pd.read_parquet(snakemake.input.vocabulary)["token"].tolist()
shards = heldout_shards(store, params.heldout_shards)
options = params.interpretation
tables = evaluate(
    model,
    store,
    config.site,
    shards,
    vocabulary,
    category=params.category,
    top_k=options["top_k"],
    block_tokens=params.batch_tokens,
    context_before=options["context_before"],
    context_after=options["context_after"],
    histogram_bins=options["histogram_bins"],
    log=log,
)
for name, table in tables.items():
    write_parquet(table, snakemake.output[name])
log.info("held-out shards %s: %s", shards, tables["evaluation"].iloc[0].to_dict())

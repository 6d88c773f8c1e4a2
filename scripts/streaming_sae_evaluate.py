"""streaming_sae evaluation: held-out reconstruction and the model's loss with the SAE spliced in, latent statistics,
top-activating contexts; the metrics also as an SAEBench core result."""

import json

import pandas as pd

from interpflow.methods.streaming_sae.evaluation import evaluate
from interpflow.models.devices import resolve_device
from interpflow.models.loading import load_model, load_tokenizer
from interpflow.runtime.atomic_io import write_parquet, write_text
from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.core.streaming import heldout_shards
from interpflow.sae.evaluation.core_results import core_result
from interpflow.sae.files import load_sae
from interpflow.stores.corpus import evaluation_special_ids
from interpflow.stores.corpus_store import CorpusStore

log = start_stage(snakemake)
params = snakemake.params
device = resolve_device(params.device)
model, config = load_sae(snakemake.input.weights, snakemake.input.config, device)
language_model, _ = load_model(snakemake.input.model, device, n_layer=params.n_layer, dtype=params.model_dtype)
store = CorpusStore(snakemake.input.manifest)
vocabulary = pd.read_parquet(snakemake.input.vocabulary)["token"].tolist()
shards = heldout_shards(store, params.heldout_shards)
special_ids = evaluation_special_ids(load_tokenizer(snakemake.input.model))
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
    language_model=language_model,
    spliced_batch_tokens=params.spliced_batch_tokens,
    special_ids=special_ids,
    exclude_special_tokens_from_reconstruction=params.eval_config["exclude_special_tokens_from_reconstruction"],
    log=log,
)
for name, table in tables.items():
    write_parquet(table, snakemake.output[name])
evaluation = tables["evaluation"].to_dict("records")[0]
eval_config = params.eval_config | {"spliced_batch_tokens": params.spliced_batch_tokens}
eval_config["ignored_token_ids"] = special_ids
sae_id = f"{snakemake.wildcards.instance}/{snakemake.wildcards.model}"
write_text(
    json.dumps(core_result(evaluation, eval_config, sae_id, "interpflow"), indent=2) + "\n",
    snakemake.output.core_result,
)
log.info("held-out shards %s: %s", shards, tables["evaluation"].iloc[0].to_dict())

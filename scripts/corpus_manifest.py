"""The manifest of a corpus's sharded store: what each shard holds and where it came from."""

from interpflow.runtime.provenance import model_identity
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.corpus_store import write_manifest

log = start_stage(snakemake)
wildcards, params = snakemake.wildcards, snakemake.params
model = model_identity(wildcards.model, params.model_folder)
corpus = {"name": wildcards.corpus, **params.corpus}
manifest = write_manifest(list(snakemake.input.shards), snakemake.output[0], model, corpus)
log.info("%d shards, %d tokens, sites %s", len(manifest["shards"]), manifest["tokens"], ", ".join(manifest["sites"]))

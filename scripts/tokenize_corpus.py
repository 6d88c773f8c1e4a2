"""Tokenize a corpus into the windows of its shards (tokens.parquet) and write the vocabulary's strings."""

from interpflow.models.loading import load_tokenizer
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.corpus import Corpus, CorpusError
from interpflow.stores.corpus_store import write_token_table, write_vocabulary

log = start_stage(snakemake)
corpus = Corpus.from_config(snakemake.wildcards.corpus, snakemake.params.corpus, files=snakemake.input.files)
tokenizer = load_tokenizer(snakemake.input.model)
log.info("%d file(s), %d shards of %d-token windows", len(corpus.files), corpus.n_shards, corpus.context_size)
try:
    counts = write_token_table(corpus, tokenizer, snakemake.output.tokens)
except CorpusError as error:  # a file changed since the start-up check read it
    log.error("config key 'corpora.%s.%s': %s", corpus.name, error.option, error)
    raise SystemExit(1) from None
write_vocabulary(tokenizer, snakemake.output.vocabulary)
log.info("windows per shard: %s (%d tokens)", counts, sum(counts) * corpus.context_size)

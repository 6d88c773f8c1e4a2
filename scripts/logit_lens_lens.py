"""logit_lens model stage: every layer and position of every text through the final norm and unembedding."""

from interpflow.methods.logit_lens.lens import logit_lens
from interpflow.models.devices import resolve_device
from interpflow.models.loading import load_model
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.texts import read_text_set

log = start_stage(snakemake)
params = snakemake.params
device = resolve_device(params.device)
model, tokenizer = load_model(snakemake.input.model, device, n_layer=params.n_layer, dtype=params.model_dtype)
texts = read_text_set(snakemake.input.text, params.text_options["text_column"]).texts
tables = logit_lens(model, tokenizer, texts, params.target, params.n_top_tokens)
write_parquet(tables["lens"], snakemake.output.lens)
write_parquet(tables["top_tokens"], snakemake.output.top_tokens)
log.info("%d texts, %d rows", len(texts), len(tables["lens"]))

"""One forward pass over a text set; store every site the downstream analyses need."""

from interpflow.models.devices import resolve_device
from interpflow.models.loading import load_model
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.extraction import extract_to_files
from interpflow.stores.texts import read_text_set

log = start_stage(snakemake)
params = snakemake.params
device = resolve_device(params.device)
model, tokenizer = load_model(snakemake.input.model, device, n_layer=params.n_layer, dtype=params.model_dtype)
texts = read_text_set(snakemake.input.text, params.text_column).texts
log.info("%d texts, %d sites: %s", len(texts), len(params.sites), ", ".join(params.sites))
metadata = {"model": snakemake.wildcards.model, "text": snakemake.wildcards.text, "device": device}
output = snakemake.output
n_tokens = extract_to_files(
    model, tokenizer, texts, params.sites, output.tensors, output.tokens, metadata, batch_size=params.batch_size
)
log.info("stored %d tokens", n_tokens)

"""streaming_sae, pretrained instances: the SAE's folder in interpflow's save format, in place of training."""

import json
from pathlib import Path

from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage
from interpflow.sae.core.training import log_table
from interpflow.sae.files import save_sae
from interpflow.sae.interop.pretrained import import_pretrained
from interpflow.sae.interop.pretrained_entries import read_entry, source_record

log = start_stage(snakemake)
params, output, wildcards = snakemake.params, snakemake.output, snakemake.wildcards
name, entry, files = params.sae["name"], params.sae["entry"], params.sae["files"]
spec = read_entry(entry, files)
model_config = json.loads((Path(snakemake.input.model) / "config.json").read_text(encoding="utf-8"))
sae, config = import_pretrained(files, spec, model_config)
record = source_record(name, entry, files, spec)
save_sae(
    sae,
    config,
    output.weights,
    output.config,
    None,
    instance=wildcards.instance,
    model=wildcards.model,
    pretrained=record,
)
write_parquet(log_table(None), output.training_log)  # not trained here: an empty log
log.info("imported %s (%s) as %s", name, entry["format"], config)

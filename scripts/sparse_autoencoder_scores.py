"""sparse_autoencoder scores: density, mean non-zero activation and the category score of every latent."""

import pandas as pd
from safetensors.numpy import load_file

from interpflow.methods.sparse_autoencoder.analysis import latent_scores
from interpflow.runtime.atomic_io import write_parquet
from interpflow.runtime.stage_logging import start_stage
from interpflow.stores.word_categories import category_positions

log = start_stage(snakemake)
category = snakemake.params.category
latents = load_file(snakemake.input.latents)["latents"]
tokens = pd.read_parquet(snakemake.input.tokens)["token"].tolist()
is_target = category_positions(tokens, category["words"])
log.info("%d of %d tokens belong to category %r", is_target.sum(), len(tokens), category["name"])
if not is_target.any():
    key = f"sparse_autoencoder.{snakemake.wildcards.instance}.category.words"
    raise ValueError(f"config key '{key}': none of {category['words']} occurs in the text")
write_parquet(latent_scores(latents, is_target, category["name"]), snakemake.output.scores)

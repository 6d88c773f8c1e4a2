"""sparse_autoencoder figures: loss curves, latent image and statistics, and text heatmaps of chosen latents."""

import json

import pandas as pd
from safetensors.numpy import load_file

from interpflow.methods.sparse_autoencoder import figures as plots
from interpflow.methods.sparse_autoencoder.analysis import ranked
from interpflow.plotting.style import save_figures
from interpflow.runtime.atomic_io import write_text
from interpflow.runtime.stage_logging import start_stage

log = start_stage(snakemake)
params, inputs, output = snakemake.params, snakemake.input, snakemake.output
latents = load_file(inputs.latents)["latents"]
scores = pd.read_parquet(inputs.scores)
tokens = pd.read_parquet(inputs.tokens)["token"].tolist()
figures = {
    "loss_curves": plots.loss_curves(pd.read_parquet(inputs.training_log)),
    "latent_activations": plots.latent_image(latents),
    "latent_statistics": plots.latent_statistics(scores),
}
score_column = f"{params.category}_score"
chosen = {
    "heatmap_activity": ("mean_activation", params.plot["activity_rank"], "activity rank"),
    "heatmap_density": ("density", params.plot["density_rank"], "density rank"),
    "heatmap_score": (score_column, params.plot["score_rank"], f"{params.category} score rank"),
}
for name, (column, rank, reason) in chosen.items():
    latent = ranked(scores, column, rank)
    figures[name], page = plots.latent_heatmaps(tokens, latents[:, latent], latent, f"{reason} {rank}")
    write_text(page, output[f"{name}_html"])
save_figures(figures, output)
log.info("heatmaps of latents: %s", json.dumps({name: ranked(scores, c, r) for name, (c, r, _) in chosen.items()}))

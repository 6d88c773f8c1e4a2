# Shared setup: the package on the path, config validation, and the helpers rules call.
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))
# Set (not read): jobs, in conda envs or on cluster nodes, import the package from this source tree.
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
)

from interpflow.code_dependencies import imported_package_files
from interpflow.config import ConfigError, validate_config
from interpflow.registry import required_sites
from interpflow.sites import module_output
from interpflow.analyses import neuron_clusters as nc_analysis
from interpflow.analyses import palinka_sae as sae_analysis
from interpflow.analyses import subspace_removal as sr_analysis

try:
    validate_config(
        config,
        Path(workflow.basedir) / "schemas" / "config.schema.yaml",
        workflow.basedir,
    )
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

MODEL_DIR = config["model_dir"]
MODEL_STAGE = config["resources"]["model_stage"]
CPU_STAGE = config["resources"]["cpu_stage"]


wildcard_constraints:
    model="|".join(re.escape(name) for name in config["models"]),
    text="|".join(re.escape(name) for name in config["texts"]),


def workflow_path(relative):
    """A path shipped with the workflow (texts, tokenizer), relative to the working directory."""
    return os.path.relpath(Path(workflow.basedir) / relative)


def code(script):
    """The script's package modules, as inputs: editing one reruns the stages that import it."""
    files = imported_package_files(Path(workflow.basedir) / script, SRC)
    return [os.path.relpath(path) for path in files]


def model_folder(model):
    """The folder a model is loaded from."""
    entry = config["models"][model]
    if entry["source"] == "local":
        return entry["path"]
    return f"{MODEL_DIR}/{entry['source']}/{model}"


def model_input(wildcards):
    return model_folder(wildcards.model)


def text_input(wildcards):
    return workflow_path(config["texts"][wildcards.text]["path"])


def activation_store(model, text):
    """The two files of the activation store of ``text`` under ``model``."""
    return {
        "tensors": f"results/activations/{model}/{text}.safetensors",
        "tokens": f"results/activations/{model}/{text}.tokens.parquet",
    }


def n_layer(model):
    return config["models"][model]["n_layer"]


def figure_outputs(analysis, folder, *names, **labels):
    """PNG and SVG outputs ``<name>_png`` / ``<name>_svg`` of figures in ``folder``.

    Each PNG goes into the report under its analysis and model, captioned by
    ``report/<analysis>/<name>.rst``; ``labels`` (values may name wildcards) tell apart figures
    of the same name, e.g. one per layer.
    """
    outputs = {}
    for name in names:
        outputs[f"{name}_png"] = report(
            f"{folder}/{name}.png",
            caption=f"../report/{analysis}/{name}.rst",
            category=analysis,
            subcategory="{model}",
            labels={"result": name, **labels},
        )
        outputs[f"{name}_svg"] = f"{folder}/{name}.svg"
    return outputs


def all_figures(analysis, names, models):
    return expand(
        "results/{analysis}/{model}/figures/{figure}.{ext}",
        analysis=analysis,
        model=models,
        figure=names,
        ext=["png", "svg"],
    )


# --- subspace_removal --------------------------------------------------------------------------
SR = config["subspace_removal"]
SR_FIGURES = "results/subspace_removal/{model}/figures"


def subspace_removal_store(wildcards):
    return activation_store(wildcards.model, SR["text"])


def subspace_removal_layer(wildcards):
    return sr_analysis.intervention_layer(SR, n_layer(wildcards.model))


def subspace_removal_swept_layers(wildcards):
    return sr_analysis.swept_layers(SR, n_layer(wildcards.model))


def subspace_removal_outputs():
    figures = [
        "activation_histogram",
        "inspection",
        "hidden_state_impact",
        "cosine_similarity",
        "logit_impact_stem",
        "logit_impact_text",
    ] + (["layer_sweep"] if SR["sweep"] else [])
    tables = [
        "inspection_spectrum.parquet",
        "inspection.safetensors",
        "hidden_state_impact.parquet",
        "logit_impact.parquet",
        "layer_sweep.parquet",
        "cosine_similarity.safetensors",
    ]
    return expand(
        "results/subspace_removal/{model}/{table}", model=SR["models"], table=tables
    ) + all_figures("subspace_removal", figures, SR["models"])


# --- hooks_vs_hidden ---------------------------------------------------------------------------
HVH = config["hooks_vs_hidden"]


def hooks_vs_hidden_store(wildcards):
    return activation_store(wildcards.model, HVH["text"])


def hooks_vs_hidden_layers(wildcards):
    return (
        list(range(n_layer(wildcards.model))) if HVH["all_layers"] else [HVH["layer"]]
    )


def hooks_vs_hidden_outputs():
    figures = ["decomposition"] + (["layer_profile"] if HVH["all_layers"] else [])
    return expand(
        "results/hooks_vs_hidden/{model}/{table}.parquet",
        model=HVH["models"],
        table=["correlations", "comparison_values"],
    ) + all_figures("hooks_vs_hidden", figures, HVH["models"])


# --- neuron_clusters ---------------------------------------------------------------------------
NC = config["neuron_clusters"]
NC_FIGURES = [
    "activations",
    "example_neuron",
    "t_values",
    "tsne",
    "dbscan",
    "dbscan_similarity",
    "kmeans",
]


def neuron_clusters_store(wildcards):
    return activation_store(wildcards.model, NC["text"])


def neuron_clusters_statistics_section():
    """The parameters of the statistics stage: everything but the models and the plot settings."""
    return {key: value for key, value in NC.items() if key not in ("models", "plot")}


def neuron_clusters_outputs():
    tables = [
        "neuron_tests.parquet",
        "neuron_clusters.parquet",
        "cluster_summary.parquet",
        "target_activations.safetensors",
    ]
    outputs = expand(
        "results/neuron_clusters/{model}/{table}", model=NC["models"], table=tables
    )
    for model in NC["models"]:
        for layer in nc_analysis.analysis_layers(NC, n_layer(model)):
            outputs += expand(
                "results/neuron_clusters/{model}/figures/layer{layer}/{figure}.{ext}",
                model=model,
                layer=layer,
                figure=NC_FIGURES,
                ext=["png", "svg"],
            )
    if NC["sweep"]:
        outputs += all_figures("neuron_clusters", ["layer_sweep"], NC["models"])
    return outputs


# --- coffee_mi ---------------------------------------------------------------------------------
MI = config["coffee_mi"]
MI_TABLES = [
    "pairwise_mi",
    "layer_summary",
    "sublayer_tests",
    "example_points",
    "example_mi",
]
MI_FIGURES = [
    "one_layer",
    "example_pair",
    "layers_histogram",
    "layers_knn",
    "estimators",
]


def coffee_mi_store(wildcards):
    return activation_store(wildcards.model, MI["text"])


def coffee_mi_statistics_section():
    """The parameters of the statistics stage: everything but the models and the plot settings."""
    return {key: value for key, value in MI.items() if key not in ("models", "plot")}


def coffee_mi_outputs():
    return expand(
        "results/coffee_mi/{model}/{table}.parquet", model=MI["models"], table=MI_TABLES
    ) + all_figures("coffee_mi", MI_FIGURES, MI["models"])


# --- palinka_sae -------------------------------------------------------------------------------
SAE = config["palinka_sae"]
SAE_RUN = "results/palinka_sae/{model}"
SAE_FIGURES = ["loss_curves", "latent_activations", "latent_statistics"]
SAE_HEATMAPS = ["heatmap_activity", "heatmap_density", "heatmap_score"]


def palinka_sae_store(wildcards):
    return activation_store(wildcards.model, SAE["text"])


def palinka_sae_site(wildcards):
    return module_output(
        sae_analysis.sae_layer(SAE, n_layer(wildcards.model)), "mlp.c_fc"
    )


def palinka_sae_outputs():
    files = [
        "sae.safetensors",
        "sae_config.json",
        "latents.safetensors",
        "training_log.parquet",
        "latents.parquet",
    ]
    heatmaps = expand(
        "results/palinka_sae/{model}/figures/{figure}.html",
        model=SAE["models"],
        figure=SAE_HEATMAPS,
    )
    return (
        expand("results/palinka_sae/{model}/{file}", model=SAE["models"], file=files)
        + all_figures("palinka_sae", SAE_FIGURES + SAE_HEATMAPS, SAE["models"])
        + heatmaps
    )


# --- report and targets -----------------------------------------------------------------------
# analysis -> its tables shown in the report (each stays a Parquet file; the view is for reading)
KEY_TABLES = {
    "subspace_removal": ["layer_sweep"],
    "neuron_clusters": ["cluster_summary"],
    "coffee_mi": ["layer_summary", "sublayer_tests"],
    "palinka_sae": ["latents"],
    "hooks_vs_hidden": ["correlations"],
}
ANALYSIS_MODELS = {
    "subspace_removal": SR["models"],
    "neuron_clusters": NC["models"],
    "coffee_mi": MI["models"],
    "palinka_sae": SAE["models"],
    "hooks_vs_hidden": HVH["models"],
}


def table_views():
    return [
        f"results/{analysis}/{model}/tables/{table}.html"
        for analysis, tables in KEY_TABLES.items()
        for model in ANALYSIS_MODELS[analysis]
        for table in tables
    ]


def workflow_outputs():
    """Every table and figure of every analysis, for the configured models, and the report's table views."""
    return (
        subspace_removal_outputs()
        + neuron_clusters_outputs()
        + coffee_mi_outputs()
        + palinka_sae_outputs()
        + hooks_vs_hidden_outputs()
        + table_views()
    )

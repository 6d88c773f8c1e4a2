# Shared setup: the package on the path, config validation (which also fills in every default),
# and the helpers every method's rules call.
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
from interpflow.comparison import Run
from interpflow.config import ConfigError, check_unique_keys, instances, validate_config
from interpflow.hub_cache import ModelUnavailableError, refuse_unavailable_hub_models
from interpflow.layers import resolve_layer
from interpflow.model_records import model_folder
from interpflow.output_locks import OutputsBeingWritten, refuse_outputs_being_written
from interpflow.provenance import export_git_state
from interpflow.registry import METHODS, required_sites
from interpflow.stage_logging import export_numerics_environment

try:
    check_unique_keys(workflow.configfiles)
    validate_config(
        config,
        Path(workflow.basedir) / "schemas" / "config.schema.yaml",
        workflow.basedir,
        checked_files=Path(".interpflow/checked-files"),
        references=workflow.is_main_process,  # a cluster job's snakemake: checked by the run already
    )
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

export_git_state(
    workflow.basedir
)  # jobs record the commit in their results' provenance
export_numerics_environment()  # jobs compute with MKL's reproducible code paths


# Before any job starts (and so before Snakemake removes any old output), for the jobs this run would
# run: refuse if a live process, of any run or user, is writing one of their outputs (each stage also
# locks its outputs itself, interpflow.output_locks, which covers jobs a run adds later); refuse if,
# offline, a hub model it would provision is not in the Hugging Face cache.
onstart:
    try:
        refuse_outputs_being_written(workflow.dag.needrun_jobs())
        refuse_unavailable_hub_models(workflow.dag.needrun_jobs(), config["models"])
    except OutputsBeingWritten as busy:
        raise WorkflowError(f"refused to start: {busy}") from None
    except ModelUnavailableError as unavailable:
        raise WorkflowError(f"cannot start: {unavailable}") from None


MODEL_DIR = config["model_dir"]
MODEL_STAGE = config["resources"]["model_stage"]
CPU_STAGE = config["resources"]["cpu_stage"]
# Where each run (an instance of a method on one model) keeps its results and logs.
RUN = "results/{method}/{{instance}}/{{model}}"
RUN_LOGS = "logs/{method}/{{instance}}/{{model}}"


wildcard_constraints:
    model="|".join(re.escape(name) for name in config["models"]),
    text="|".join(re.escape(name) for name in config["texts"]),
    instance="[a-z][a-z0-9_]*",


def workflow_path(relative):
    """A path shipped with the workflow (texts, tokenizer), relative to the working directory."""
    return os.path.relpath(Path(workflow.basedir) / relative)


def code(script):
    """The script's package modules, as inputs: editing one reruns the stages that import it."""
    files = imported_package_files(Path(workflow.basedir) / script, SRC)
    return [os.path.relpath(path) for path in files]


def model_input(wildcards):
    """The folder the job's model is loaded from."""
    return str(model_folder(config, wildcards.model))


def text_path(text):
    return workflow_path(config["texts"][text]["path"])


def activation_store(model, text):
    """The two files of the activation store of ``text`` under ``model``."""
    return {
        "tensors": f"results/activations/{model}/{text}.safetensors",
        "tokens": f"results/activations/{model}/{text}.tokens.parquet",
    }


def n_layer(model):
    return config["models"][model]["n_layer"]


# --- instances: each method's config section maps instance names to their options -------------
def instance(method, wildcards):
    """The options of the instance a job belongs to (defaults filled in)."""
    return config[method][wildcards.instance]


def instance_option(method, *keys):
    """A params function: the option at ``keys`` of the job's instance (changing it reruns the job)."""

    def option(wildcards):
        value = instance(method, wildcards)
        for key in keys:
            value = value[key]
        return value

    return option


def instance_store(method):
    """An input function: the activation store of the job's instance text under the job's model."""
    return lambda wildcards: activation_store(
        wildcards.model, instance(method, wildcards)["text"]
    )


def instance_text(method):
    """An input function: the text file of the job's instance."""
    return lambda wildcards: text_path(instance(method, wildcards)["text"])


def instance_n_layer(wildcards):
    return n_layer(wildcards.model)


def runs(method, instance_names=None):
    """Every (instance, model) run of ``method`` (or of the named instances), in config order."""
    chosen = instances(config, method)
    names = chosen if instance_names is None else instance_names
    return [
        Run(name, model, n_layer(model))
        for name in names
        for model in chosen[name]["models"]
    ]


def run_paths(method, files, instance_names=None):
    """``results/<method>/<instance>/<model>/<file>`` for every run and file."""
    return [
        f"results/{method}/{run.instance}/{run.model}/{file}"
        for run in runs(method, instance_names)
        for file in files
    ]


def run_figures(method, names, instance_names=None):
    return run_paths(
        method,
        [f"figures/{name}.{ext}" for name in names for ext in ("png", "svg")],
        instance_names,
    )


def figure_outputs(method, folder, *names, **labels):
    """PNG and SVG outputs ``<name>_png`` / ``<name>_svg`` of figures in ``folder``.

    Each PNG goes into the report under its method and run, captioned by
    ``report/<method>/<name>.rst``; ``labels`` (values may name wildcards) tell apart figures
    of the same name, e.g. one per layer.
    """
    outputs = {}
    for name in names:
        outputs[f"{name}_png"] = report(
            f"{folder}/{name}.png",
            caption=f"../report/{method}/{name}.rst",
            category=method,
            subcategory="{instance} · {model}",
            labels={"result": name, **labels},
        )
        outputs[f"{name}_svg"] = f"{folder}/{name}.svg"
    return outputs


# --- comparison across a method's runs ----------------------------------------------------------
def comparison_paths(method):
    """The table and figure that put every run of ``method`` side by side."""
    return {
        "table": f"results/{method}/comparison.parquet",
        "png": f"results/{method}/comparison.png",
        "svg": f"results/{method}/comparison.svg",
    }


def comparison_outputs(method):
    """The comparison rule's outputs: :func:`comparison_paths`, the figure marked for the report."""
    paths = comparison_paths(method)
    figure = report(
        paths["png"],
        caption=f"../report/{method}/comparison.rst",
        category=method,
        subcategory="comparison",
        labels={"result": "comparison"},
    )
    return {**paths, "png": figure}


def comparison_runs(method):
    """Params of a comparison job: the runs, in the order of its inputs."""
    return [vars(run) for run in runs(method)]


# Filled by each method's section below: method -> {"outputs": f(instance) -> paths, "tables": [...]}.
METHOD_TARGETS = {}


# --- subspace_removal -------------------------------------------------------------------------
SR_RUN = RUN.format(method="subspace_removal")
SR_LOGS = RUN_LOGS.format(method="subspace_removal")
SR_INTERVENTION_FIGURES = [
    "hidden_state_impact",
    "cosine_similarity",
    "logit_impact_stem",
    "logit_impact_text",
]


def subspace_removal_outputs(name):
    figures = ["activation_histogram", "inspection", *SR_INTERVENTION_FIGURES]
    if instances(config, "subspace_removal")[name]["sweep"]:
        figures.append("layer_sweep")
    tables = [
        "inspection_spectrum.parquet",
        "inspection.safetensors",
        "hidden_state_impact.parquet",
        "logit_impact.parquet",
        "layer_sweep.parquet",
        "cosine_similarity.safetensors",
    ]
    return run_paths("subspace_removal", tables, [name]) + run_figures(
        "subspace_removal", figures, [name]
    )


METHOD_TARGETS["subspace_removal"] = {
    "outputs": subspace_removal_outputs,
    "tables": ["layer_sweep"],
}


def subspace_removal_layer(option):
    """A params function: the resolved layer (``middle`` -> n_layer // 2) of an instance option."""
    return lambda wildcards: resolve_layer(
        instance("subspace_removal", wildcards)[option], n_layer(wildcards.model)
    )


def subspace_removal_swept_layers(wildcards):
    return METHODS["subspace_removal"].swept_layers(
        instance("subspace_removal", wildcards), n_layer(wildcards.model)
    )


# --- neuron_contrast --------------------------------------------------------------------------
NC_RUN = RUN.format(method="neuron_contrast")
NC_LOGS = RUN_LOGS.format(method="neuron_contrast")
NC_TABLES = {
    "neuron_tests": "neuron_tests.parquet",
    "neuron_clusters": "neuron_clusters.parquet",
    "cluster_summary": "cluster_summary.parquet",
    "activations": "target_activations.safetensors",
}
NC_FIGURES = [
    "activations",
    "example_neuron",
    "t_values",
    "tsne",
    "dbscan",
    "dbscan_similarity",
    "kmeans",
]


def neuron_contrast_outputs(name):
    chosen = instances(config, "neuron_contrast")[name]
    outputs = run_paths("neuron_contrast", NC_TABLES.values(), [name])
    for run in runs("neuron_contrast", [name]):
        for layer in METHODS["neuron_contrast"].analysis_layers(chosen, run.n_layer):
            outputs += expand(
                "results/neuron_contrast/{instance}/{model}/figures/layer{layer}/{figure}.{ext}",
                instance=name,
                model=run.model,
                layer=layer,
                figure=NC_FIGURES,
                ext=["png", "svg"],
            )
    if chosen["sweep"]:
        outputs += run_figures("neuron_contrast", ["layer_sweep"], [name])
    return outputs


METHOD_TARGETS["neuron_contrast"] = {
    "outputs": neuron_contrast_outputs,
    "tables": ["cluster_summary"],
}


def neuron_contrast_statistics_options(wildcards):
    """The options the statistics read: everything but the models and the plot settings."""
    chosen = instance("neuron_contrast", wildcards)
    return {
        key: value for key, value in chosen.items() if key not in ("models", "plot")
    }


def neuron_contrast_text_columns(wildcards):
    entry = config["texts"][instance("neuron_contrast", wildcards)["text"]]
    return {key: entry[key] for key in ("text_column", "group_column")}


# --- repeated_token_mi ------------------------------------------------------------------------
MI_RUN = RUN.format(method="repeated_token_mi")
MI_LOGS = RUN_LOGS.format(method="repeated_token_mi")
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


def repeated_token_mi_outputs(name):
    tables = [f"{table}.parquet" for table in MI_TABLES]
    return run_paths("repeated_token_mi", tables, [name]) + run_figures(
        "repeated_token_mi", MI_FIGURES, [name]
    )


METHOD_TARGETS["repeated_token_mi"] = {
    "outputs": repeated_token_mi_outputs,
    "tables": ["layer_summary", "sublayer_tests"],
}


def repeated_token_mi_statistics_options(wildcards):
    """The options the statistics read: everything but the models."""
    chosen = instance("repeated_token_mi", wildcards)
    return {key: value for key, value in chosen.items() if key != "models"}


def repeated_token_mi_layer(wildcards):
    return resolve_layer(
        instance("repeated_token_mi", wildcards)["layer"], n_layer(wildcards.model)
    )


# --- sparse_autoencoder -----------------------------------------------------------------------
SAE_RUN = RUN.format(method="sparse_autoencoder")
SAE_LOGS = RUN_LOGS.format(method="sparse_autoencoder")
SAE_FIGURES = ["loss_curves", "latent_activations", "latent_statistics"]
SAE_HEATMAPS = ["heatmap_activity", "heatmap_density", "heatmap_score"]


def sparse_autoencoder_outputs(name):
    files = [
        "sae.safetensors",
        "sae_config.json",
        "latents.safetensors",
        "training_log.parquet",
        "latents.parquet",
    ]
    heatmaps = [f"figures/{figure}.html" for figure in SAE_HEATMAPS]
    return run_paths("sparse_autoencoder", files + heatmaps, [name]) + run_figures(
        "sparse_autoencoder", SAE_FIGURES + SAE_HEATMAPS, [name]
    )


METHOD_TARGETS["sparse_autoencoder"] = {
    "outputs": sparse_autoencoder_outputs,
    "tables": ["latents"],
}


def sparse_autoencoder_site(wildcards):
    return METHODS["sparse_autoencoder"].sae_site(
        instance("sparse_autoencoder", wildcards), n_layer(wildcards.model)
    )


def sparse_autoencoder_tokens(wildcards):
    return instance_store("sparse_autoencoder")(wildcards)["tokens"]


# --- residual_decomposition -------------------------------------------------------------------
RD_RUN = RUN.format(method="residual_decomposition")
RD_LOGS = RUN_LOGS.format(method="residual_decomposition")


def residual_decomposition_outputs(name):
    figures = ["decomposition"]
    if instances(config, "residual_decomposition")[name]["all_layers"]:
        figures.append("layer_profile")
    tables = ["correlations.parquet", "comparison_values.parquet"]
    return run_paths("residual_decomposition", tables, [name]) + run_figures(
        "residual_decomposition", figures, [name]
    )


METHOD_TARGETS["residual_decomposition"] = {
    "outputs": residual_decomposition_outputs,
    "tables": ["correlations"],
}


def residual_decomposition_layers(wildcards):
    return METHODS["residual_decomposition"].analysis_layers(
        instance("residual_decomposition", wildcards), n_layer(wildcards.model)
    )


def residual_decomposition_figure_layer(wildcards):
    return METHODS["residual_decomposition"].figure_layer(
        instance("residual_decomposition", wildcards), n_layer(wildcards.model)
    )


# --- corpora: sharded activation stores (rules/corpora.smk) ---------------------------------
CORPUS_STORE = "results/activations/{model}/{corpus}"


wildcard_constraints:
    corpus="|".join(re.escape(name) for name in config["corpora"]) or "(?!)",
    shard=r"\d+",


def corpus_store(model, corpus):
    """The files of the sharded store of ``corpus`` under ``model``."""
    folder = CORPUS_STORE.format(model=model, corpus=corpus)
    return {
        "manifest": f"{folder}/manifest.json",
        "vocabulary": f"{folder}/vocabulary.parquet",
    }


def corpus_files(wildcards):
    from interpflow.corpus import corpus_files as matching

    entry = config["corpora"][wildcards.corpus]
    return [
        os.path.relpath(path) for path in matching(entry["paths"], workflow.basedir)
    ]


def corpus_shards(wildcards):
    n_shards = config["corpora"][wildcards.corpus]["n_shards"]
    return [
        f"{CORPUS_STORE.format(**wildcards)}/shard-{shard}.safetensors"
        for shard in range(n_shards)
    ]


# --- streaming_sae ----------------------------------------------------------------------------
SS_RUN = RUN.format(method="streaming_sae")
SS_LOGS = RUN_LOGS.format(method="streaming_sae")
SS_FIGURES = ["loss_curves", "latent_statistics"]
SS_TABLES = ["evaluation", "latents", "top_contexts"]


def streaming_sae_outputs(name):
    files = ["sae.safetensors", "training_log.parquet"]
    files += [f"{table}.parquet" for table in SS_TABLES]
    files += ["tables/top_contexts.html"]
    return run_paths("streaming_sae", files, [name]) + run_figures(
        "streaming_sae", SS_FIGURES, [name]
    )


METHOD_TARGETS["streaming_sae"] = {
    "outputs": streaming_sae_outputs,
    "tables": ["evaluation"],
}


def streaming_sae_store(wildcards):
    """The manifest and vocabulary of the store of the job's instance corpus under the job's model."""
    return corpus_store(wildcards.model, instance("streaming_sae", wildcards)["corpus"])


def streaming_sae_site(wildcards):
    return METHODS["streaming_sae"].sae_site(
        instance("streaming_sae", wildcards), n_layer(wildcards.model)
    )


# --- report and targets -----------------------------------------------------------------------
def method_outputs(method, instance_names=None):
    """Every result of the named instances of ``method`` (all when None)."""
    names = instances(config, method) if instance_names is None else instance_names
    produce = METHOD_TARGETS[method]["outputs"]
    return [path for name in names for path in produce(name)]


def table_views(method, instance_names=None):
    """The report's HTML views of the method's key tables."""
    return run_paths(
        method,
        [f"tables/{table}.html" for table in METHOD_TARGETS[method]["tables"]],
        instance_names,
    )


def method_targets(method):
    """Everything ``snakemake <method>`` makes: every instance, the table views and the comparison."""
    if not instances(config, method):
        return []
    return (
        method_outputs(method)
        + table_views(method)
        + list(comparison_paths(method).values())
    )


def workflow_outputs():
    """Every table and figure of every method and instance, with the report's table views and comparisons."""
    return [path for method in METHODS for path in method_targets(method)]


def figure_outputs_only():
    """Every figure, table view and comparison: what plotting code and plot parameters make."""
    drawn = re.compile(r"\b(figures|tables)/|\bcomparison\.(png|svg)$")
    return [path for path in workflow_outputs() if drawn.search(path)]

# Shared setup: the package on the path, config validation (which also fills in every default),
# and the helpers every method's rules call.
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))
# Set (not read): jobs, in conda envs or on cluster nodes, import the package from this source tree.
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
)

from interpflow.config import (
    ConfigError,
    check_unique_keys,
    config_as_given,
    instances,
    validate_config,
)
from interpflow.models.hub_cache import (
    ModelUnavailableError,
    refuse_unavailable_hub_models,
)
from interpflow.models.layers import resolve_layer
from interpflow.registry import METHODS, required_sites
from interpflow.runtime.code_dependencies import (
    imported_package_files,
    package_module_files,
)
from interpflow.runtime.comparison import Run
from interpflow.runtime.sweeps import INSTANCE_PATTERN, sweep_name
from interpflow.runtime.model_records import model_folder, model_source_folder
from interpflow.runtime.output_locks import (
    OutputsBeingWritten,
    refuse_outputs_being_written,
)
from interpflow.runtime.output_records import set_aside_damaged_outputs
from interpflow.runtime.provenance import export_git_state
from interpflow.runtime.stage_logging import export_numerics_environment

try:
    check_unique_keys(workflow.configfiles)
    validate_config(
        config,
        workflow.basedir,
        checked_files=Path(".interpflow/checked-files"),
        references=workflow.is_main_process,  # a cluster job's snakemake: checked by the run already
    )
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

# A damaged result (not the bytes its stage wrote: a partial copy, a full quota, a stray edit) is moved
# aside before the DAG is built, and the outputs of the stages that read it are dated back, so this run
# rebuilds it and what depends on it (interpflow.runtime.output_records).
if workflow.is_main_process:
    for damage, aside in set_aside_damaged_outputs():
        logger.warning(
            f"damaged result: {damage.describe()}; moved to {aside}, so this run rebuilds it "
            f"and what depends on it"
        )

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
# What each kind of stage asks of the machine or the cluster (config `resources`), declared once: each
# stage names its kind, `threads: <KIND>_STAGE["threads"]` and `resources: **<KIND>_RESOURCES`.
# Model stages run a model (extraction, interventions, SAE training); CPU stages compute statistics,
# scores and figures from cached files.
MODEL_STAGE = config["resources"]["model_stage"]
CPU_STAGE = config["resources"]["cpu_stage"]
MODEL_RESOURCES = {key: value for key, value in MODEL_STAGE.items() if key != "threads"}
CPU_RESOURCES = {key: value for key, value in CPU_STAGE.items() if key != "threads"}
# Where each run (an instance of a method on one model) keeps its results and logs.
RUN = "results/{method}/{{instance}}/{{model}}"
RUN_LOGS = "logs/{method}/{{instance}}/{{model}}"


wildcard_constraints:
    model="|".join(re.escape(name) for name in config["models"]),
    text="|".join(re.escape(name) for name in config["texts"]),
    instance=INSTANCE_PATTERN,
    layer=r"\d+",


def workflow_path(relative):
    """A path shipped with the workflow (texts, tokenizer), relative to the working directory."""
    return os.path.relpath(Path(workflow.basedir) / relative)


def code(script, *modules):
    """The package modules the script imports, and those it loads by name (``modules``, dotted), as
    inputs: editing one reruns the stages that use it."""
    files = imported_package_files(Path(workflow.basedir) / script, SRC)
    files += package_module_files(modules, SRC)
    return sorted({os.path.relpath(path) for path in files})


def model_input(wildcards):
    """The folder the job's model is loaded from."""
    return str(model_folder(config, wildcards.model))


def model_source_input(wildcards):
    """The folder a model's weights come from (provisioned, built or local), in their own dtype."""
    return str(model_source_folder(config, wildcards.model))


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


def model_weights_spec(model):
    """A model's config entry without its ``dtype``: what its weights (built or provisioned) depend on."""
    return {
        key: value for key, value in config["models"][model].items() if key != "dtype"
    }


def model_dtype(wildcards):
    """The dtype the job's model computes in (``models.<name>.dtype``; its stores keep their own)."""
    return config["models"][wildcards.model]["dtype"]


# --- instances: each method's config section maps instance names to their options -------------
def instance(method, wildcards):
    """The options of the instance a job belongs to (defaults filled in)."""
    return config[method][wildcards.instance]


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


def per_run(method, function):
    """A params or input function: ``function(instance, n_layer)`` for the job's instance and model,
    e.g. a method's ``swept_layers`` or ``sae_site``."""
    return lambda wildcards: function(
        instance(method, wildcards), n_layer(wildcards.model)
    )


def instance_layer(method, option):
    """A params function: the layer an instance option names, resolved for the job's model
    (``middle`` is ``n_layer // 2``)."""
    return per_run(method, lambda chosen, layers: resolve_layer(chosen[option], layers))


def instance_options(method, leave_out=("models",)):
    """A params function: the job's instance options but ``leave_out`` (changing one reruns the job)."""
    return lambda wildcards: {
        key: value
        for key, value in instance(method, wildcards).items()
        if key not in leave_out
    }


def instance_text_options(method, *keys):
    """A params function: the options ``keys`` of the text set of the job's instance."""
    return lambda wildcards: {
        key: config["texts"][instance(method, wildcards)["text"]][key] for key in keys
    }


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


def comparison_inputs(method):
    """What the comparison of ``method`` reads: per argument of its ``comparison_table``, one file per run."""
    return {
        argument: run_paths(method, [file])
        for argument, file in METHODS[method].comparison_inputs.items()
    }


# --- corpora: sharded activation stores (rules/corpora.smk), read by corpus methods --------------
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
    from interpflow.stores.corpus import corpus_files as matching

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


def instance_corpus(method, wildcards):
    """The options of the job's instance corpus (defaults filled in)."""
    return config["corpora"][instance(method, wildcards)["corpus"]]


def instance_corpus_store(method):
    """An input function: the manifest and vocabulary of the store of the job's instance corpus under
    the job's model."""
    return lambda wildcards: corpus_store(
        wildcards.model, instance(method, wildcards)["corpus"]
    )


# --- pretrained SAEs (config `saes`): hub SAEs are provisioned like hub models (rules/models.smk) -----
from interpflow.sae.interop.pretrained_entries import files_folder, provisioned_folder

SAE_PROVISIONED = f"{MODEL_DIR}/saes/{{sae}}"


wildcard_constraints:
    sae="|".join(
        re.escape(name)
        for name, entry in config["saes"].items()
        if entry["source"] == "hub"
    )
    or "(?!)",


def instances_reading(method, pretrained):
    """A wildcard pattern: the instances of ``method`` that read a pretrained SAE (``pretrained=True``) or
    train their own."""
    names = [
        name
        for name, options in instances(config, method).items()
        if bool(options.get("pretrained")) == pretrained
    ]
    return "|".join(re.escape(name) for name in names) or "(?!)"


def pretrained_sae_folder(method):
    """An input function: the folder of the job's pretrained SAE (a local path, or its provisioned copy)."""

    def folder(wildcards):
        name = instance(method, wildcards)["pretrained"]
        if config["saes"][name]["source"] == "local":
            return config["saes"][name]["path"]
        return str(provisioned_folder(config, name))

    return folder


def pretrained_sae(method):
    """A params function: the job's pretrained SAE, ``{name, entry, files}`` (``files``: its own folder)."""

    def options(wildcards):
        name = instance(method, wildcards)["pretrained"]
        return {
            "name": name,
            "entry": config["saes"][name],
            "files": str(files_folder(config, name)),
        }

    return options


# --- report and targets -----------------------------------------------------------------------
def method_outputs(method, instance_names=None):
    """Every file of every run of the named instances of ``method`` (all when None)."""
    chosen = instances(config, method)
    return [
        f"results/{method}/{run.instance}/{run.model}/{file}"
        for run in runs(method, instance_names)
        for file in METHODS[method].run_files(chosen[run.instance], run.n_layer)
    ]


def table_views(method, instance_names=None):
    """The report's HTML views of the method's key tables."""
    return run_paths(
        method,
        [f"tables/{table}.html" for table in METHODS[method].report_tables],
        instance_names,
    )


def instances_by_sweep(method):
    """``name -> [instance, ...]``: each instance as the config names it, a sweep with all its points."""
    grouped = {}
    for name in instances(config, method):
        grouped.setdefault(sweep_name(name), []).append(name)
    return grouped


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

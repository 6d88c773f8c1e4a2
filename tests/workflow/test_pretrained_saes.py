"""Pretrained SAEs through the corpus stages on the embedded model: one of each SAELens architecture (one from
a Hugging Face cache, offline) and one sparsify SAE, made by their own libraries, evaluated by the workflow
exactly as those libraries compute them; a bad entry stops the run before any job."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from interpflow.runtime.sweeps import sweep_name
from interpflow.sae.core.streaming import heldout_shards, token_rows
from interpflow.sae.files import load_sae
from interpflow.sae.interop.pretrained_formats import PretrainedSAEConfig
from interpflow.stores.corpus_store import CorpusStore
from tests.pretrained_saes import saelens_forward, saelens_sae, sparsify_forward, sparsify_sae
from tests.unit.test_pretrained_sae import fake_hub_sae
from tests.workflow_helpers import scheduled_jobs, snakemake

pytestmark = pytest.mark.e2e

D_MODEL, D_MLP = 128, 512  # the embedded model's widths (overlays/embedded.yaml)
REVISION = "a" * 40
# instance -> the SAE entry it reads
INSTANCES = {
    "pre_standard": "standard",
    "pre_topk": "topk",
    "pre_jumprelu": "jumprelu",
    "pre_batchtopk": "batchtopk",
    "pre_sparsify": "sparsify",
}
CENTRED = {"pre_standard", "pre_topk", "pre_batchtopk"}


def build_saes(project):
    """The SAEs (their libraries' modules, by instance) and the overlay that names them."""
    saes = project / "pretrained"
    offline_cache = project / "hf"
    references = {
        "pre_standard": saelens_sae(
            saes / "standard", "standard", "blocks.6.hook_resid_pre", D_MODEL, 256, normalize_activations="layer_norm"
        ),
        "pre_topk": saelens_sae(
            saes / "topk",
            "topk",
            "blocks.6.hook_resid_pre",
            D_MODEL,
            256,
            k=8,
            rescale_acts_by_decoder_norm=True,
            seed=1,
        ),
        "pre_jumprelu": saelens_sae(
            saes / "jumprelu",
            "jumprelu",
            "blocks.6.mlp.hook_pre",
            D_MLP,
            256,
            kwargs={},
            apply_b_dec_to_input=False,
            seed=2,
        ),
        "pre_batchtopk": saelens_sae(
            saes / "batchtopk", "batchtopk", "blocks.6.hook_resid_pre", D_MODEL, 256, k=8, seed=3
        ),
        "pre_sparsify": sparsify_sae(saes / "sparsify", "h.5", D_MODEL, k=8, seed=4),
    }
    fake_hub_sae(offline_cache, "someone/embedded-saes", "blocks.6.hook_resid_pre", saes / "standard", REVISION)
    entries = {
        "standard": {
            "source": "hub",
            "hub_id": "someone/embedded-saes",
            "folder": "blocks.6.hook_resid_pre",
            "revision": REVISION,
        },
        "topk": {"source": "local", "path": "pretrained/topk"},
        "jumprelu": {"source": "local", "path": "pretrained/jumprelu"},
        "batchtopk": {"source": "local", "path": "pretrained/batchtopk"},
        "sparsify": {"source": "local", "path": "pretrained/sparsify/h.5", "format": "sparsify", "model": "embedded"},
    }
    # A corpus of their own (the demo's texts, 2 shards): the trained instances' store is left as it is.
    corpus = {
        "paths": ["resources/corpora/demo/*.txt", "resources/corpora/demo/*.jsonl"],
        "context_size": 32,
        "n_shards": 2,
    }
    instances = {
        name: {"models": ["embedded"], "corpus": "pretrained_corpus", "pretrained": sae}
        for name, sae in INSTANCES.items()
    }
    changes = {"saes": entries, "corpora": {"pretrained_corpus": corpus}, "streaming_sae": instances}
    (project / "pretrained.yaml").write_text(yaml.safe_dump(changes))
    return references


def offline(project) -> dict[str, str]:
    return {"HF_HOME": str(project / "hf"), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def pretrained_run(local_run, tmp_path_factory):
    project = tmp_path_factory.mktemp("pretrained") / "project"
    shutil.copytree(local_run.workdir, project, symlinks=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        references = build_saes(project)
    result = snakemake(project, overlays=("overlays/embedded.yaml", "pretrained.yaml"), env=offline(project))
    return project, references, result


def run_folder(project, instance):
    return project / "results" / "streaming_sae" / instance / "embedded"


def heldout(project, site):
    """The held-out tokens' activations at ``site`` as the evaluation reads them, ``(tokens, width)``, and
    ``(tokens,)`` bool: which are special tokens (GPT-2's EOS, between documents), left out of the metrics."""
    store = CorpusStore(project / "results" / "activations" / "embedded" / "pretrained_corpus" / "manifest.json")
    shards = heldout_shards(store, 1)
    rows = [
        token_rows(store.activations(site, shard, np.arange(store.windows(shard))), store.prepend_bos)
        for shard in shards
    ]
    ids = [store.token_ids(shard, np.arange(store.windows(shard)))[:, int(store.prepend_bos) :] for shard in shards]
    return torch.cat(rows), torch.from_numpy(np.concatenate(ids).reshape(-1) == 50256)


def reference_forward(references, instance, x):
    if instance == "pre_sparsify":
        return sparsify_forward(references[instance], x)
    return saelens_forward(references[instance], x, centred=instance in CENTRED)


@pytest.mark.parametrize("instance", INSTANCES)
def test_a_pretrained_sae_is_evaluated_as_its_own_library_computes_it(pretrained_run, instance):
    project, references, _ = pretrained_run
    folder = run_folder(project, instance)
    _, config = load_sae(folder / "sae.safetensors")
    assert isinstance(config, PretrainedSAEConfig)
    x, special = heldout(project, config.site)
    with torch.no_grad():
        x_hat, z = reference_forward(references, instance, x)
    read = ~special
    x64, error = x[read].double(), (x - x_hat)[read].double()
    evaluation = pd.read_parquet(folder / "evaluation.parquet").iloc[0]
    assert evaluation["tokens"] == int(read.sum()) and special.any()
    fvu = (error**2).sum() / ((x64 - x64.mean(0)) ** 2).sum()
    assert evaluation["fvu"] == pytest.approx(fvu.item(), rel=1e-5)
    assert evaluation["mse"] == pytest.approx((error**2).sum(1).mean().item(), rel=1e-5)  # per token
    assert evaluation["l0"] == pytest.approx((z[read] != 0).double().sum(1).mean().item(), abs=1 / len(x))
    cossim = torch.nn.functional.cosine_similarity(x64, x_hat[read].double(), dim=1).mean().item()
    assert evaluation["cossim"] == pytest.approx(cossim, rel=1e-5)
    # spliced into the model like a trained SAE (tests/unit/test_sae_core_evaluation.py checks the numbers)
    assert evaluation["kl_div_with_sae"] > 0 and np.isfinite(evaluation["ce_loss_score"])
    assert (folder / "core_eval_results.json").is_file()
    density = pd.read_parquet(folder / "latents.parquet")["density"].to_numpy()
    assert np.abs(density - (z != 0).double().mean(0).numpy()).max() <= 1 / len(x)  # a borderline token at most
    contexts = pd.read_parquet(folder / "top_contexts.parquet")
    assert len(contexts) > 0 and (contexts["activation"] > 0).all()
    assert (folder / "tables" / "top_contexts.html").is_file()
    assert pd.read_parquet(folder / "training_log.parquet").empty  # not trained here


@pytest.mark.parametrize("instance", INSTANCES)
def test_a_pretrained_sae_is_exported_as_a_saelens_folder_that_encodes_the_same(pretrained_run, instance):
    """For sparsify, a conversion: SAELens reads what interpflow wrote as sparsify computes it."""
    from sae_lens import SAE

    project, references, _ = pretrained_run
    folder = run_folder(project, instance)
    exported = SAE.load_from_disk(str(folder / "saelens"))
    cfg = json.loads((folder / "saelens" / "cfg.json").read_text())
    assert cfg["metadata"]["hook_name"] == load_sae(folder / "sae.safetensors")[1].site
    x, _ = heldout(project, cfg["metadata"]["hook_name"])
    centred = cfg["metadata"]["model_from_pretrained_kwargs"].get("center_writing_weights", False)
    assert centred == (instance in CENTRED)
    with torch.no_grad():
        _, reference_z = reference_forward(references, instance, x)
        exported_z = exported.encode(x - x.mean(1, keepdim=True) if centred else x)
    torch.testing.assert_close(exported_z, reference_z, rtol=1e-5, atol=1e-5)


def test_the_run_records_where_each_sae_came_from(pretrained_run):
    project, _, result = pretrained_run
    record = json.loads((run_folder(project, "pre_standard") / "sae_config.json").read_text())["pretrained"]
    weights = project / "pretrained" / "standard" / "sae_weights.safetensors"
    assert (record["hub_id"], record["revision"], record["commit"]) == ("someone/embedded-saes", REVISION, REVISION)
    assert record["files"]["sae_weights.safetensors"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert record["model_from_pretrained_kwargs"]["center_writing_weights"] is True
    provisioned = project / "models" / "saes" / "standard" / "blocks.6.hook_resid_pre" / "sae_weights.safetensors"
    assert provisioned.read_bytes() == weights.read_bytes()
    jobs = scheduled_jobs(result.stderr)  # a real run reports its jobs on stderr
    assert jobs["provision_hub_sae"] == 1 and jobs["streaming_sae_import"] == len(INSTANCES)
    assert "streaming_sae_train" not in jobs  # the trained instances and their store were left alone
    comparison = pd.read_parquet(project / "results" / "streaming_sae" / "comparison.parquet")
    sweeps = {sweep_name(instance) for instance in comparison["instance"]}  # the demo's sweep: one per point
    assert set(INSTANCES) | {"demo_topk", "demo_tied", "demo_sweep"} == sweeps


BAD = [
    (
        {"streaming_sae": {"pre_topk": {"layer": 3}}},
        "'streaming_sae.pre_topk.layer': the instance reads the pretrained SAE 'topk', whose files say its layer",
    ),
    (
        {"streaming_sae": {"pre_topk": {"pretrained": "nothing"}}},
        "'streaming_sae.pre_topk.pretrained': unknown SAE 'nothing'",
    ),
    (
        {"saes": {"topk": {"model": "gpt2"}}},
        "'streaming_sae.pre_topk.models': ['embedded'], but the SAE 'topk' was trained on model 'gpt2'",
    ),
    (
        {
            "saes": {"unnamed": {"source": "local", "path": "pretrained/sparsify/h.5", "format": "sparsify"}},
            "streaming_sae": {
                "pre_unnamed": {"models": ["embedded"], "corpus": "pretrained_corpus", "pretrained": "unnamed"}
            },
        },
        "'saes.unnamed.model': the SAE's files do not name its model",
    ),
    (
        {"corpora": {"pretrained_corpus": {"prepend_bos": False}}},
        "'corpora.pretrained_corpus.prepend_bos': false, but the SAE 'batchtopk' (read by streaming_sae.pre_batchtopk) "
        "was trained on windows with a BOS token first; set prepend_bos: true",
    ),
    (
        {"saes": {"topk": {"path": "pretrained/wide"}}},
        "'saes.topk': the SAE reads 256 values per token, but blocks.6.hook_resid_pre of model 'embedded' is 128 wide",
    ),
    ({"saes": {"topk": {"path": "pretrained/z"}}}, "'saes.topk': the SAE reads 'blocks.6.attn.hook_z'"),
    ({"saes": {"topk": {"path": "pretrained/gated"}}}, "'saes.topk': cfg.json: architecture 'gated'"),
    (
        {"saes": {"standard": {"revision": "b" * 40}}},
        "'saes.standard': pretrained SAE 'standard' (someone/embedded-saes/blocks.6.hook_resid_pre) is not available",
    ),
]


@pytest.mark.parametrize("changes, message", BAD)
def test_a_bad_pretrained_entry_stops_before_any_job(pretrained_run, changes, message):
    project, _, _ = pretrained_run
    saes = project / "pretrained"
    if not (saes / "wide").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saelens_sae(saes / "wide", "topk", "blocks.6.hook_resid_pre", 256, 512, k=4)
            saelens_sae(saes / "z", "standard", "blocks.6.attn.hook_z", D_MODEL, 256)
            shutil.copytree(saes / "topk", saes / "gated")
            cfg = json.loads((saes / "gated" / "cfg.json").read_text())
            (saes / "gated" / "cfg.json").write_text(json.dumps({**cfg, "architecture": "gated"}))
    (project / "bad.yaml").write_text(yaml.safe_dump(changes))
    before = {path: path.stat().st_mtime_ns for path in (project / "results").rglob("*")}
    overlays = ("overlays/embedded.yaml", "pretrained.yaml", "bad.yaml")
    result = snakemake(project, overlays=overlays, env=offline(project), check=False)
    assert result.returncode != 0
    assert f"invalid configuration: config key {message}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert {path: path.stat().st_mtime_ns for path in (project / "results").rglob("*")} == before

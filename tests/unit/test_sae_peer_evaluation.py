"""The SAE evaluation equals the field's own functions: SAELens 6's ``get_recons_loss`` and
``get_sparsity_and_variance_metrics``, run on TransformerLens 3.9's ``HookedTransformer`` with the same SAE
(exported to SAELens's folder and loaded by SAELens, or made by SAELens's own classes and read through
interpflow's pretrained-SAE path) and the same windows, which hold BOS (= EOS, GPT-2's one special token)
first and inside, where documents join.

The model is a tiny GPT-2 as built and with perturbed norm weights and biases (norm weight 1 and bias 0
would hide a norm or bias applied in the wrong place)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sae_lens
import torch
from sae_lens.evals import (
    ActivationScaler,
    get_downstream_reconstruction_metrics,
    get_recons_loss,
    get_sparsity_and_variance_metrics,
)

from interpflow.methods.streaming_sae.evaluation import evaluate
from interpflow.models.loading import vendored_tokenizer
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.peers import SAELENS_VERSION
from interpflow.sae.core.variants import build_model
from interpflow.sae.evaluation.core_results import core_result
from interpflow.sae.interop.pretrained import import_pretrained
from interpflow.sae.interop.pretrained_formats import read_spec
from interpflow.sae.interop.saelens import write_saelens_folder
from interpflow.stores.corpus import Corpus, evaluation_special_ids
from interpflow.stores.corpus_store import CorpusStore, write_manifest, write_token_table
from interpflow.stores.shard_extraction import extract_shard
from tests.conftest import TOKENIZER_DIR
from tests.model_zoo import SPEC, tiny_model
from tests.pretrained_saes import saelens_sae
from tests.unit.test_transformer_lens import hooked_transformer

SITE = "blocks.1.hook_resid_pre"
CONTEXT, HELDOUT = 16, [1]
WIDTH, LATENTS = SPEC["n_embd"], 4 * SPEC["n_embd"]
SHARPEN = 8.0  # the final norm's scale, times this
SPLICED = ["ce_loss_without_sae", "ce_loss_with_sae", "ce_loss_with_ablation", "ce_loss_score"]
SPLICED += ["kl_div_with_sae", "kl_div_with_ablation", "kl_div_score"]
RECONSTRUCTION = ["explained_variance", "mse", "cossim", "l2_norm_in", "l2_norm_out", "l2_ratio"]
RECONSTRUCTION += ["relative_reconstruction_bias", "l0", "l1"]
DOCUMENTS = [
    "Palinka is a fruit brandy.",
    "The cat sat.",
    "Rivers run to the sea, and the sea does not fill.",
    "She gave him the book.",
    "Coffee, then more coffee.",
    "A short one.",
    "The lecture ends here, with questions from the room.",
    "Plants grow toward the light.",
] * 3


@pytest.fixture(scope="module", params=[False, True], ids=["as-built", "perturbed"])
def setting(request, tmp_path_factory):
    """``(Hugging Face model, HookedTransformer, corpus store of its activations, special ids)``."""
    folder = tmp_path_factory.mktemp("model")
    model = tiny_model("gpt2", request.param, folder)
    with torch.no_grad():  # sharper predictions: random weights give near-uniform ones, whose KLs are rounding-sized
        model.transformer.ln_f.weight.mul_(SHARPEN)
    hooked = hooked_transformer("gpt2", model, folder)
    tokenizer = vendored_tokenizer(TOKENIZER_DIR)
    corpus_dir = tmp_path_factory.mktemp("corpus")
    documents = corpus_dir / "documents.jsonl"
    documents.write_text("".join(json.dumps({"text": text}) + "\n" for text in DOCUMENTS))
    corpus = Corpus("documents", (documents,), "text", CONTEXT, None, 2, True)
    write_token_table(corpus, tokenizer, corpus_dir / "tokens.parquet", windows_per_group=4)
    shards = [corpus_dir / f"shard-{shard}.safetensors" for shard in range(2)]
    for shard, path in enumerate(shards):
        extract_shard(model, corpus_dir / "tokens.parquet", shard, CONTEXT, [SITE], path, batch_size=4)
    write_manifest(shards, corpus_dir / "manifest.json", {"name": "tiny"}, {"name": "documents", "prepend_bos": True})
    return model, hooked, CorpusStore(corpus_dir / "manifest.json"), evaluation_special_ids(tokenizer)


def heldout_tokens(store: CorpusStore) -> torch.Tensor:
    """Every held-out window, ``(windows, context)``."""
    return torch.cat(
        [
            torch.as_tensor(store.token_ids(shard, list(range(store.windows(shard)))), dtype=torch.long)
            for shard in HELDOUT
        ]
    )


def interpflow_sae(folder) -> tuple[torch.nn.Module, sae_lens.SAE]:
    """A TopK SAE of interpflow's, with random biases too, and SAELens's reading of its exported folder."""
    config = SAEConfig("topk", SITE, WIDTH, LATENTS, 8, 0.0, 0.0, 1e-3, 3)
    sae = build_model(config).eval()
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        sae.b_pre.copy_(torch.randn(WIDTH, generator=generator) * 0.1)
        sae.b_enc.copy_(torch.randn(LATENTS, generator=generator) * 0.1)
    write_saelens_folder(folder, sae, config, {}, np.zeros(LATENTS), model_name="tiny", context_size=CONTEXT)
    return sae, sae_lens.SAE.load_from_disk(str(folder))


def saelens_made_sae(folder, architecture: str, model) -> tuple[torch.nn.Module, sae_lens.SAE]:
    """A SAE made and saved by SAELens's own classes, and interpflow's pretrained-SAE reading of its folder."""
    options = {"k": 8} if architecture == "topk" else {}
    reference = saelens_sae(folder, architecture, SITE, WIDTH, LATENTS, kwargs={}, seed=2, **options)
    ours, _ = import_pretrained(folder, read_spec(folder, "sae_lens"), model.config.to_dict())
    return ours, reference


SOURCES = ["interpflow topk, exported", "SAELens standard, imported", "SAELens topk, imported"]


def both_saes(source: str, folder, model):
    if source.startswith("interpflow"):
        return interpflow_sae(folder)
    return saelens_made_sae(folder, source.split()[1].rstrip(","), model)


class HeldOutWindows:
    """The part of SAELens's ``ActivationsStore`` its evaluation functions use: one batch, every window."""

    def __init__(self, tokens: torch.Tensor):
        self.tokens = tokens

    def get_batch_tokens(self, batch_size: int) -> torch.Tensor:
        assert batch_size == len(self.tokens)
        return self.tokens


def saelens_spliced(reference, hooked, tokens: torch.Tensor, special: list[int], exclude: bool) -> dict[str, float]:
    """SAELens's spliced metrics. Excluding the special tokens: ``get_downstream_reconstruction_metrics`` with
    them as ``ignore_tokens`` (the replacement mask and the metric mask, as ``run_evals`` does). Not excluding:
    ``get_recons_loss`` with no mask, the same metric mask applied after, as SAEBench's core evaluation does."""
    if exclude:
        return get_downstream_reconstruction_metrics(
            reference, hooked, HeldOutWindows(tokens), ActivationScaler(), True, True, 1, len(tokens), special
        )
    per_position = get_recons_loss(reference, hooked, ActivationScaler(), tokens, True, True, ignore_tokens=None)
    counted = ~torch.isin(tokens, torch.tensor(special))
    means = {
        name: float(value[counted if value.shape[1] == counted.shape[1] else counted[:, :-1]].mean())
        for name, value in per_position.items()
    }
    return means | {
        "ce_loss_score": (means["ce_loss_with_ablation"] - means["ce_loss_with_sae"])
        / (means["ce_loss_with_ablation"] - means["ce_loss_without_sae"]),
        "kl_div_score": (means["kl_div_with_ablation"] - means["kl_div_with_sae"]) / means["kl_div_with_ablation"],
    }


def interpflow_evaluation(ours, model, store, special: list[int], exclude: bool) -> dict:
    vocabulary = [str(i) for i in range(model.config.vocab_size)]
    tables = evaluate(
        ours,
        store,
        SITE,
        HELDOUT,
        vocabulary,
        language_model=model,
        spliced_batch_tokens=10 * CONTEXT,  # several passes: the means must not depend on it
        special_ids=special,
        exclude_special_tokens_from_reconstruction=exclude,
    )
    return tables["evaluation"].iloc[0].to_dict()


def test_the_windows_hold_special_tokens_first_and_inside(setting):
    """What makes the two token choices differ: BOS first in every window, and EOS where documents join."""
    _, _, store, special = setting
    tokens = heldout_tokens(store)
    assert special == [50256]
    assert (tokens[:, 0] == 50256).all() and (tokens[:, 1:] == 50256).sum() >= 3


@pytest.mark.parametrize("exclude", [True, False], ids=["excluded", "replaced"])
@pytest.mark.parametrize("source", SOURCES)
def test_the_spliced_metrics_and_token_stats_equal_saelens(setting, tmp_path, source, exclude):
    model, hooked, store, special = setting
    ours, reference = both_saes(source, tmp_path / "sae", model)
    found = interpflow_evaluation(ours, model, store, special, exclude)
    tokens = heldout_tokens(store)
    expected = saelens_spliced(reference, hooked, tokens, special, exclude)
    for name in SPLICED:
        assert found[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-6), name
    counted = ~torch.isin(tokens, torch.tensor(special))
    assert found["spliced_predictions"] == int(counted[:, :-1].sum())
    assert found["spliced_kl_positions"] == int(counted.sum())
    # SAEBench's token_stats: context_size x batches x prompts per batch, every token of the windows
    result = core_result(found, {"exclude_special_tokens_from_reconstruction": exclude}, "s", "interpflow")
    assert result["eval_result_metrics"]["token_stats"] == {
        "total_tokens_eval_reconstruction": tokens.numel(),
        "total_tokens_eval_sparsity_variance": tokens.numel(),
    }
    assert result["sae_lens_version"] == SAELENS_VERSION == sae_lens.__version__
    assert (
        found["kl_div_with_sae"] > 1e-3 and found["kl_div_with_ablation"] > 1e-3
    )  # the splice and the ablation did something


def test_excluding_the_special_tokens_changes_the_scores(setting, tmp_path):
    """The option matters on these windows (the test above could not pass by both settings computing one thing)."""
    model, _, store, special = setting
    ours, _ = interpflow_sae(tmp_path / "sae")
    excluded = interpflow_evaluation(ours, model, store, special, True)
    replaced = interpflow_evaluation(ours, model, store, special, False)
    assert excluded["ce_loss_with_ablation"] == replaced["ce_loss_with_ablation"]  # zeroed everywhere either way
    assert abs(excluded["ce_loss_with_sae"] - replaced["ce_loss_with_sae"]) > 1e-4


@pytest.mark.parametrize("source", SOURCES)
def test_the_reconstruction_and_sparsity_metrics_equal_saelens(setting, tmp_path, source):
    model, hooked, store, special = setting
    ours, reference = both_saes(source, tmp_path / "sae", model)
    found = interpflow_evaluation(ours, model, store, special, True)
    tokens = heldout_tokens(store)
    expected, _ = get_sparsity_and_variance_metrics(
        reference,
        hooked,
        HeldOutWindows(tokens),
        ActivationScaler(),
        n_batches=1,
        compute_l2_norms=True,
        compute_sparsity_metrics=True,
        compute_variance_metrics=True,
        compute_featurewise_density_statistics=False,
        eval_batch_size_prompts=len(tokens),
        model_kwargs={},
        ignore_tokens=special,
    )
    for name in RECONSTRUCTION:
        assert found[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-6), name
    assert found["tokens"] == int((~torch.isin(tokens, torch.tensor(special))).sum())
    assert found["mse"] > 0 and 0 < found["l0"] < LATENTS

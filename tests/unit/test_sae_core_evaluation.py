"""The SAE evaluation as the field reports it: the reconstruction metrics against closed forms on all
tokens at once, and the spliced metrics (cross-entropy and KL with the SAE in the model) against a
brute-force loop of plain forward passes with PyTorch hooks, with identity and zero "SAEs" as closed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.variants import build_model
from interpflow.sae.evaluation.metrics import ReconstructionStatistics
from interpflow.sae.evaluation.spliced import replaced_logits, spliced_logits, spliced_losses, spliced_replacements
from interpflow.stores.corpus_store import CorpusStore
from tests.model_zoo import VARIANTS, tiny_model

HELDOUT = [3]
SPECIAL = [50256]  # GPT-2's BOS, EOS and PAD


class Identity(nn.Module):
    """An "SAE" that reconstructs perfectly."""

    def forward(self, x):
        return x, x


class Zero(nn.Module):
    """An "SAE" whose reconstruction is zero (the ablation itself)."""

    def forward(self, x):
        return torch.zeros_like(x), torch.zeros_like(x)


def random_sae(site: str, width: int, seed: int = 3) -> nn.Module:
    config = SAEConfig("topk", site, width, 4 * width, 8, 0.0, 0.0, 1e-3, seed)
    return build_model(config).eval()


# --- reconstruction metrics ------------------------------------------------------------------------
def reference_metrics(x: np.ndarray, x_hat: np.ndarray, z: np.ndarray) -> dict[str, float]:
    """Every reconstruction metric from all tokens at once, in float64."""
    x, x_hat, z = x.astype(np.float64), x_hat.astype(np.float64), z.astype(np.float64)
    sse = ((x - x_hat) ** 2).sum()
    sst = ((x - x.mean(0)) ** 2).sum()
    norm_in, norm_out = np.linalg.norm(x, axis=1), np.linalg.norm(x_hat, axis=1)
    dot = (x * x_hat).sum(1)
    dead = float(((z != 0).sum(0) == 0).mean())
    return {
        "tokens": len(x),
        "fvu": sse / sst,
        "explained_variance": 1 - sse / sst,
        "mse": sse / len(x),  # per token, summed over the dimensions (SAELens 6)
        "cossim": float(np.mean(dot / (norm_in * norm_out))),
        "l2_norm_in": float(norm_in.mean()),
        "l2_norm_out": float(norm_out.mean()),
        "l2_ratio": float(np.mean(norm_out / norm_in)),
        "relative_reconstruction_bias": float((norm_out**2).sum() / dot.sum()),
        "l0": float((z != 0).sum(1).mean()),
        "l1": float(np.abs(z).sum(1).mean()),
        "dead_fraction": dead,
        "frac_alive": 1 - dead,
    }


@pytest.mark.parametrize("blocks", [[300], [1, 299], [7, 93, 200], [150] * 2])
def test_reconstruction_metrics_equal_the_closed_forms_on_all_tokens_for_any_blocking(blocks):
    """Explained variance is about the per-dimension mean (not zero), and MSE does not depend on the
    evaluation blocks (the two SAELens bugs the field met)."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(300, 6)) + 5.0).astype(np.float32)  # a large mean: variance about zero would be far off
    x_hat = (x * 0.8 + rng.normal(scale=0.3, size=x.shape)).astype(np.float32)
    z = np.where(rng.random((300, 9)) < 0.2, rng.exponential(size=(300, 9)), 0.0).astype(np.float32)
    z[:, 4] = 0  # one dead latent
    statistics = ReconstructionStatistics(6, 9)
    start = 0
    for size in blocks:
        part = slice(start, start + size)
        statistics.add(torch.from_numpy(x[part]), torch.from_numpy(x_hat[part]), torch.from_numpy(z[part]))
        start += size
    table = statistics.table().iloc[0].to_dict()
    expected = reference_metrics(x, x_hat, z)
    assert table == pytest.approx(expected, rel=1e-7)  # the squared error is taken in float32, summed in float64
    assert table["frac_alive"] == pytest.approx(8 / 9)
    zero_mean_variance = 1 - ((x - x_hat) ** 2).sum() / (x.astype(np.float64) ** 2).sum()
    assert abs(table["explained_variance"] - zero_mean_variance) > 0.1  # the two definitions differ here


# --- spliced metrics -------------------------------------------------------------------------------
def brute_force(model, sae, store: CorpusStore, module: nn.Module, output: bool) -> dict[str, float]:
    """CE and KL of the three passes, one window at a time, the site replaced by a plain PyTorch hook on
    ``module`` (its output, or its input ``hidden_states``): the ablation zeroes every position, the SAE
    replaces every position but the special tokens; the means skip the positions of special tokens."""
    sums, n, n_kl = {"clean": 0.0, "sae": 0.0, "ablated": 0.0, "kl_sae": 0.0, "kl_ablated": 0.0}, 0, 0
    for shard in HELDOUT:
        for window in range(store.windows(shard)):
            ids = torch.as_tensor(store.token_ids(shard, [window]), dtype=torch.long)
            kept = ids[0] == SPECIAL[0]
            logprobs = {}
            for name in ("clean", "sae", "ablated"):

                def splice(value, name=name, kept=kept):
                    if name == "clean":
                        return value
                    if name == "ablated":
                        return torch.zeros_like(value)
                    value = value.clone()
                    value[0, ~kept] = sae(value[0, ~kept])[0]
                    return value

                if output:
                    handle = module.register_forward_hook(lambda m, args, out: splice(out))
                else:
                    handle = module.register_forward_pre_hook(
                        lambda m, args, kwargs: ((splice(args[0]), *args[1:]), kwargs), with_kwargs=True
                    )
                with torch.no_grad():
                    logits = model(ids).logits[0].double()
                handle.remove()
                logprobs[name] = torch.log_softmax(logits, -1)
            for position in torch.nonzero(~kept).flatten().tolist():
                p = logprobs["clean"][position].exp()
                for name in ("sae", "ablated"):
                    sums[f"kl_{name}"] += float((p * (logprobs["clean"][position] - logprobs[name][position])).sum())
                n_kl += 1
                if position + 1 < ids.shape[1]:
                    for name, values in logprobs.items():
                        sums[name] -= float(values[position, ids[0, position + 1]])
                    n += 1
    means = {name: value / (n_kl if name.startswith("kl") else n) for name, value in sums.items()}
    return {
        "ce_loss_without_sae": means["clean"],
        "ce_loss_with_sae": means["sae"],
        "ce_loss_with_ablation": means["ablated"],
        "ce_loss_score": (means["ablated"] - means["sae"]) / (means["ablated"] - means["clean"]),
        "kl_div_with_sae": means["kl_sae"],
        "kl_div_with_ablation": means["kl_ablated"],
        "kl_div_score": (means["kl_ablated"] - means["kl_sae"]) / means["kl_ablated"],
        "spliced_predictions": n,
        "spliced_kl_positions": n_kl,
        "spliced_tokens": sum(store.windows(shard) for shard in HELDOUT) * store.context_size,
    }


@pytest.fixture(scope="module")
def corpus(tiny_model, tiny_corpus):
    model, _ = tiny_model
    return model, CorpusStore(tiny_corpus[1] / "manifest.json")


@pytest.mark.parametrize(
    ("site", "module", "output"),
    [
        ("blocks.1.hook_resid_pre", lambda model: model.transformer.h[1], False),  # the cached engine
        ("blocks.0.mlp.hook_pre", lambda model: model.transformer.h[0].mlp.c_fc, True),  # a hooked full pass
    ],
)
def test_spliced_losses_equal_a_brute_force_loop_of_plain_forward_passes(corpus, site, module, output):
    model, store = corpus
    sae = random_sae(site, store.width(site))
    found = spliced_losses(model, sae, store, site, HELDOUT, batch_tokens=64, special_ids=SPECIAL).iloc[0].to_dict()
    expected = brute_force(model, sae, store, module(model), output)
    # the reference takes log-softmax in float64, the evaluation in float32 (as the model's logits)
    assert found == pytest.approx(expected, rel=1e-5, abs=1e-5)
    assert 0 < found["kl_div_with_sae"] and found["ce_loss_with_sae"] != found["ce_loss_without_sae"]


@pytest.mark.parametrize("site", ["blocks.1.hook_resid_pre", "blocks.0.mlp.hook_pre"])
def test_an_identity_sae_recovers_all_of_the_loss_and_a_zero_sae_none(corpus, site):
    model, store = corpus
    identity = spliced_losses(model, Identity(), store, site, HELDOUT, batch_tokens=64, special_ids=SPECIAL).iloc[0]
    assert identity["ce_loss_score"] == pytest.approx(1, abs=1e-6)
    assert identity["kl_div_with_sae"] == pytest.approx(0, abs=1e-7)
    assert identity["kl_div_score"] == pytest.approx(1, abs=1e-6)
    assert identity["ce_loss_with_ablation"] > identity["ce_loss_without_sae"]
    # replacing every position with zeros is the ablation itself; keeping the special tokens clean is not
    zero = spliced_losses(
        model, Zero(), store, site, HELDOUT, 64, SPECIAL, exclude_special_tokens_from_reconstruction=False
    ).iloc[0]
    assert zero["ce_loss_score"] == pytest.approx(0, abs=1e-9) and zero["kl_div_score"] == pytest.approx(0, abs=1e-9)


def test_the_spliced_metrics_do_not_depend_on_the_evaluation_batch_size(corpus):
    model, store = corpus
    site = "blocks.1.hook_resid_pre"
    sae = random_sae(site, store.width(site))
    one_window = spliced_losses(model, sae, store, site, HELDOUT, batch_tokens=1, special_ids=SPECIAL).iloc[0].to_dict()
    all_windows = (
        spliced_losses(model, sae, store, site, HELDOUT, batch_tokens=10_000, special_ids=SPECIAL).iloc[0].to_dict()
    )
    assert one_window == pytest.approx(all_windows, rel=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("hook", ["hook_resid_pre", "hook_resid_post"])
def test_starting_at_the_sites_block_gives_the_full_hooked_pass_on_every_family(variant, hook):
    """The cached engine (the replaced pass starts at the site's block) against a whole forward pass with
    the site replaced by a hook, on perturbed weights (norm weights and biases not 1 and 0)."""
    model = tiny_model(variant, perturbed=True)
    site = f"blocks.1.{hook}"
    ids = torch.randint(0, model.config.vocab_size, (3, 12), generator=torch.Generator().manual_seed(0))
    sae = random_sae(site, model.config.hidden_size)
    kept = torch.zeros(ids.shape, dtype=torch.bool)
    kept[:, 0] = kept[1, 5] = True  # positions that keep their clean values (special tokens)
    replacements = spliced_replacements(sae, kept)
    started = spliced_logits(model, site, ids, replacements)
    with torch.no_grad():
        clean = model(ids, use_cache=False).logits
    torch.testing.assert_close(started["clean"], clean, rtol=0, atol=0)
    for name, replace in replacements.items():
        torch.testing.assert_close(started[name], replaced_logits(model, site, ids, replace), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(started["sae"], clean, atol=1e-3)  # the splice changed the logits

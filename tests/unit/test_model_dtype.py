"""Models in bfloat16 (config ``models.<name>.dtype``): every family's extraction within a documented
tolerance of float32, the residual identity within it, no NaN in padded batches, and the other model
stages' computations (splicing an SAE in, the cached intervention engine) running in the model's dtype."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from interpflow.methods.subspace_removal.interventions import sweep_from_cache, sweep_reference
from interpflow.models.loading import load_model, store_model_in_dtype, vendored_tokenizer
from interpflow.models.sites import block_site, residual_streams
from interpflow.runtime.model_records import file_hashes, read_model_record, weights_sha256
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.variants import build_model
from interpflow.sae.evaluation.spliced import spliced_logits, spliced_replacements
from interpflow.stores.extraction import extract_activations
from tests.conftest import ROOT, TOKENIZER_DIR
from tests.model_zoo import VARIANTS, tiny_model

N_LAYER = 3
TEXTS = [
    (ROOT / "resources" / "texts" / "ravel.txt").read_text(encoding="utf-8")[:300],
    "A short one, padded.",  # batched with the long text: most of its positions are padding
]
SITES = [block_site(layer, hook) for layer in range(N_LAYER) for hook in ("hook_resid_pre", "hook_attn_out")]
SITES += [block_site(layer, "hook_mlp_out") for layer in range(N_LAYER)] + [block_site(N_LAYER - 1, "hook_resid_post")]
# bfloat16 keeps 8 bits of mantissa (relative rounding 2^-9 ≈ 2e-3 per operation): over a few blocks the
# activations drift from float32's by about 1e-2 of their norm, which is the documented tolerance.
TOLERANCE = 3e-2


@pytest.fixture(scope="module", params=VARIANTS)
def both_dtypes(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("m") / "model"
    tiny_model(request.param, True, folder, spec={"n_layer": N_LAYER, "n_positions": 256})
    vendored_tokenizer(TOKENIZER_DIR).save_pretrained(folder)
    stores = {}
    for dtype in ("float32", "bfloat16"):
        model, tokenizer = load_model(folder, "cpu", n_layer=N_LAYER, dtype=dtype)
        assert next(model.parameters()).dtype == getattr(torch, dtype)
        stores[dtype] = extract_activations(model, tokenizer, TEXTS, SITES, batch_size=2)
    return request.param, folder, stores


def relative_error(found: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(found - reference) / np.linalg.norm(reference))


def test_bfloat16_extraction_is_within_the_tolerance_of_float32_with_no_nan(both_dtypes):
    variant, _, stores = both_dtypes
    for site in SITES:
        found, reference = stores["bfloat16"][site], stores["float32"][site]
        assert found.dtype == np.float32 and np.isfinite(found).all(), (variant, site)  # stores keep float32
        assert relative_error(found, reference) < TOLERANCE, (variant, site, relative_error(found, reference))
    assert relative_error(stores["bfloat16"][SITES[-1]], stores["float32"][SITES[-1]]) > 1e-5  # really bfloat16


def test_the_residual_identity_holds_in_bfloat16_within_the_tolerance(both_dtypes):
    _, _, stores = both_dtypes
    store = stores["bfloat16"]
    for layer in range(N_LAYER):
        parts = [store[block_site(layer, hook)] for hook in ("hook_resid_pre", "hook_attn_out", "hook_mlp_out")]
        following = store[block_site(layer + 1, "hook_resid_pre") if layer < N_LAYER - 1 else SITES[-1]]
        assert relative_error(parts[0] + parts[1] + parts[2], following) < TOLERANCE, layer


def test_an_sae_splices_into_a_bfloat16_model_and_the_intervention_engines_run_in_it(both_dtypes):
    variant, folder, _ = both_dtypes
    model, tokenizer = load_model(folder, "cpu", n_layer=N_LAYER, dtype="bfloat16")
    site = block_site(1, "hook_resid_pre")
    sae = build_model(SAEConfig("topk", site, model.config.hidden_size, 64, 4, 0.0, 0.0, 1e-3, 0)).eval()
    ids = tokenizer(TEXTS[:1], return_tensors="pt").input_ids[:, :24]
    kept = torch.zeros(ids.shape, dtype=torch.bool)
    kept[:, 0] = True  # a special token first, kept clean
    logits = spliced_logits(model, site, ids, spliced_replacements(sae, kept))
    assert all(value.dtype == torch.bfloat16 and torch.isfinite(value).all() for value in logits.values())
    # the subspace-removal sweep at block 1, from a store of the bfloat16 model and by full passes
    sites = [*residual_streams(N_LAYER), block_site(1, "hook_attn_out"), block_site(1, "mlp.hook_pre")]
    store = extract_activations(model, tokenizer, [tokenizer.decode(ids[0])], sites)
    cached = sweep_from_cache(model, store, [1], n_components=1)[0]
    reference = sweep_reference(model, torch.as_tensor(store.tokens["token_id"].to_numpy()), [1], n_components=1)[0]
    assert np.isfinite(cached.delta_logprob).all() and np.isfinite(reference.delta_logprob).all(), variant
    assert relative_error(cached.diff_norms, reference.diff_norms) < 0.1, variant


def test_weights_stored_in_bfloat16_are_the_cast_weights_recorded_and_load_as_the_cast_at_load(both_dtypes):
    """``store_model_in_dtype`` (the workflow's ``store_model_in_dtype`` rule): every floating weight is the
    float32 one rounded to bfloat16, in half the bytes, hashed and recorded with the source's hash; loading
    it gives the model a float32 checkpoint cast at load time gives, to the bit."""
    variant, folder, _ = both_dtypes
    stored = store_model_in_dtype(folder, folder.parent / "bfloat16", "bfloat16")
    source_weights = sorted(folder.glob("*.safetensors"))
    assert [path.name for path in sorted(stored.glob("*.safetensors"))] == [path.name for path in source_weights]
    for path in source_weights:
        original, cast = load_file(path), load_file(stored / path.name)
        assert original.keys() == cast.keys()
        for name, tensor in original.items():
            assert cast[name].dtype == torch.bfloat16 and torch.equal(cast[name], tensor.to(torch.bfloat16)), name
        assert (stored / path.name).stat().st_size < 0.51 * path.stat().st_size
    record = read_model_record(stored)
    assert record["dtype"] == "bfloat16" and record["files"] == file_hashes(stored)
    assert record["weights_sha256"] == weights_sha256(file_hashes(stored))
    assert record["stored_from"]["weights_sha256"] == read_model_record(folder)["weights_sha256"]
    assert json.loads((stored / "config.json").read_text())["dtype"] == "bfloat16"
    at_load, _ = load_model(folder, "cpu", n_layer=N_LAYER, dtype="bfloat16")
    from_stored, _ = load_model(stored, "cpu", n_layer=N_LAYER, dtype="bfloat16")
    loaded = dict(from_stored.state_dict())
    for name, tensor in at_load.state_dict().items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor), (variant, name)


@pytest.mark.parametrize("fast", [True, False])
def test_a_half_precision_model_on_a_cpu_without_its_instructions_says_so_when_loaded(
    both_dtypes, monkeypatch, caplog, fast
):
    """bfloat16 products on a CPU without AMX or AVX512-BF16 run hundreds of times slower than float32: the
    stage's log names the config key to change; where the instructions exist (or in float32) it is silent."""
    import interpflow.models.loading as loading

    _, folder, _ = both_dtypes
    asked = []
    monkeypatch.setattr(loading, "has_fast_half_precision", lambda device, dtype: asked.append(dtype) or fast)
    with caplog.at_level("WARNING", logger=loading.__name__):
        load_model(folder, "cpu", dtype="bfloat16")
    assert asked == [torch.bfloat16]
    warned = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert bool(warned) is not fast and all("models.<name>.dtype: float32" in message for message in warned)


def test_float32_and_cuda_always_have_fast_products_and_a_cpu_asks_onednn():
    from interpflow.models.devices import has_fast_half_precision

    assert has_fast_half_precision("cpu", torch.float32) and has_fast_half_precision("cuda", torch.bfloat16)
    assert has_fast_half_precision("cpu", torch.bfloat16) == (
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )

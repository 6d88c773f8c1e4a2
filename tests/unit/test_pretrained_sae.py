"""Pretrained SAEs as inputs: each SAELens architecture and input option, and sparsify's format, read by
interpflow exactly as their own libraries compute them; what cannot be honoured is refused by name."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch

from interpflow.runtime.errors import ConfigError
from interpflow.sae.interop.pretrained import import_pretrained
from interpflow.sae.interop.pretrained_entries import entry_spec, provision_hub_sae, trained_on
from interpflow.sae.interop.pretrained_formats import PretrainedSAEError, read_spec
from tests.pretrained_saes import CENTRED, saelens_forward, saelens_sae, sparsify_forward, sparsify_sae

D_IN, D_SAE = 24, 96
GPT2 = {"model_type": "gpt2", "n_embd": D_IN}  # a model's config.json values, as much as an import reads
LLAMA = {"model_type": "llama", "hidden_size": D_IN, "intermediate_size": D_IN}


def activations(rows: int = 64, width: int = D_IN, seed: int = 1) -> torch.Tensor:
    """Token vectors with a large shared offset and a per-token mean, as a residual stream has."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, width, generator=generator) * 2 + torch.linspace(-3, 3, width)
    return x + torch.randn(rows, 1, generator=generator)


def assert_same(ours: torch.Tensor, reference: torch.Tensor) -> None:
    scale = reference.abs().max().item()
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=1e-6 * max(scale, 1.0))


CASES = {
    "standard": dict(architecture="standard"),
    "standard, no b_dec on input": dict(architecture="standard", apply_b_dec_to_input=False),
    "standard, layer_norm": dict(architecture="standard", normalize_activations="layer_norm"),
    "topk": dict(architecture="topk", k=6),
    "topk, rescaled by decoder norm, constant_norm_rescale": dict(
        architecture="topk", k=6, rescale_acts_by_decoder_norm=True, normalize_activations="constant_norm_rescale"
    ),
    "jumprelu": dict(architecture="jumprelu"),
    "batchtopk (as saved for inference)": dict(architecture="batchtopk", k=6),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("centred", [True, False], ids=["centred", "unprocessed"])
def test_a_saelens_sae_encodes_and_decodes_as_saelens_does(tmp_path, case, centred):
    kwargs = CENTRED if centred else {}
    reference = saelens_sae(
        tmp_path / "sae", site="blocks.2.hook_resid_pre", d_in=D_IN, d_sae=D_SAE, kwargs=kwargs, **CASES[case]
    )
    spec = read_spec(tmp_path / "sae", "sae_lens")
    ours, config = import_pretrained(tmp_path / "sae", spec, GPT2)
    assert config.centre_input == centred
    x = activations()
    with torch.no_grad():
        x_hat, z = ours(x)
        reference_x_hat, reference_z = saelens_forward(reference, x, centred)
        assert_same(ours.encode(x), reference_z)
    assert_same(z, reference_z)
    assert_same(x_hat, reference_x_hat)
    l0 = (z != 0).float().sum(1)
    assert 0 < l0.mean() < D_SAE  # a sparse code, neither empty nor dense: the comparison could fail
    if "k" in CASES[case] and case.startswith("topk"):
        assert (l0 <= CASES[case]["k"]).all()


def test_expected_average_only_in_folds_the_release_scaling_factor(tmp_path):
    """The factor SAELens's directory gives (config ``norm_scaling_factor``) is folded as SAELens folds it."""
    reference = saelens_sae(
        tmp_path / "sae",
        "standard",
        "blocks.2.hook_resid_pre",
        D_IN,
        D_SAE,
        normalize_activations="expected_average_only_in",
    )
    with pytest.raises(PretrainedSAEError, match="norm_scaling_factor"):
        read_spec(tmp_path / "sae", "sae_lens")
    spec = read_spec(tmp_path / "sae", "sae_lens", {"norm_scaling_factor": 2.5})
    ours, config = import_pretrained(tmp_path / "sae", spec, GPT2)
    assert config.normalize_activations == "none"
    reference.fold_activation_norm_scaling_factor(2.5)
    x = activations()
    with torch.no_grad():
        for mine, theirs in zip(ours(x), saelens_forward(reference, x, centred=True), strict=True):
            assert_same(mine, theirs)


def test_centring_applies_to_residual_sites_of_layernorm_models_only(tmp_path):
    saelens_sae(tmp_path / "resid", "standard", "blocks.2.hook_resid_post", D_IN, D_SAE)
    saelens_sae(tmp_path / "mlp", "standard", "blocks.2.mlp.hook_pre", D_IN, D_SAE)
    resid, mlp = read_spec(tmp_path / "resid", "sae_lens"), read_spec(tmp_path / "mlp", "sae_lens")
    assert import_pretrained(tmp_path / "resid", resid, GPT2)[1].centre_input
    assert not import_pretrained(tmp_path / "resid", resid, LLAMA)[1].centre_input  # RMSNorm: TL does not centre
    assert not import_pretrained(tmp_path / "mlp", mlp, {**GPT2, "n_inner": D_IN})[
        1
    ].centre_input  # neurons are not centred


def test_an_identity_scaling_factor_is_read_and_any_other_refused(tmp_path):
    """Some SAELens releases hold ``scaling_factor`` (all ones); SAELens drops it, and so does interpflow."""
    from safetensors.torch import load_file, save_file

    saelens_sae(tmp_path / "sae", "standard", "blocks.2.hook_resid_pre", D_IN, D_SAE)
    path = tmp_path / "sae" / "sae_weights.safetensors"
    weights = load_file(path)
    save_file({**weights, "scaling_factor": torch.ones(D_SAE)}, path)
    spec = read_spec(tmp_path / "sae", "sae_lens")
    assert torch.equal(import_pretrained(tmp_path / "sae", spec, GPT2)[0].W_dec, weights["W_dec"])
    save_file({**weights, "scaling_factor": torch.full((D_SAE,), 2.0)}, path)
    with pytest.raises(PretrainedSAEError, match=r"holds \['scaling_factor'\]"):
        import_pretrained(tmp_path / "sae", spec, GPT2)


def test_an_sae_of_another_width_is_refused(tmp_path):
    saelens_sae(tmp_path / "sae", "standard", "blocks.2.mlp.hook_pre", D_IN, D_SAE)
    with pytest.raises(
        PretrainedSAEError, match=r"reads 24 values per token, but blocks.2.mlp.hook_pre of the model is 96"
    ):
        import_pretrained(tmp_path / "sae", read_spec(tmp_path / "sae", "sae_lens"), GPT2)


def test_a_sparsify_sae_encodes_and_decodes_as_sparsify_does(tmp_path):
    reference = sparsify_sae(tmp_path / "run", "h.2", D_IN, k=5)
    spec = read_spec(tmp_path / "run" / "h.2", "sparsify")
    assert (spec.sae.site, spec.sae.architecture, spec.sae.k, spec.sae.latent_dim) == (
        "blocks.2.hook_resid_post",
        "topk",
        5,
        4 * D_IN,
    )
    ours, config = import_pretrained(tmp_path / "run" / "h.2", spec, GPT2)
    assert not config.centre_input  # sparsify reads the model's own activations
    x = activations()
    with torch.no_grad():
        x_hat, z = ours(x)
        reference_x_hat, reference_z = sparsify_forward(reference, x)
    assert_same(z, reference_z)
    assert_same(x_hat, reference_x_hat)


def test_sparsify_hookpoints_map_to_sites(tmp_path):
    for hookpoint, site in {"layers.4": "blocks.4.hook_resid_post", "h.0.mlp": "blocks.0.hook_mlp_out"}.items():
        sparsify_sae(tmp_path / "run", hookpoint, D_IN)
        assert read_spec(tmp_path / "run" / hookpoint, "sparsify").sae.site == site
    sparsify_sae(tmp_path / "run", "layers.1.self_attn", D_IN)
    with pytest.raises(PretrainedSAEError, match="hookpoint"):
        read_spec(tmp_path / "run" / "layers.1.self_attn", "sparsify")
    mlp = read_spec(tmp_path / "run" / "h.0.mlp", "sparsify")
    assert import_pretrained(tmp_path / "run" / "h.0.mlp", mlp, GPT2)[1].site == "blocks.0.hook_mlp_out"
    gemma2 = {"model_type": "gemma2", "hidden_size": D_IN, "intermediate_size": 4 * D_IN}
    with pytest.raises(PretrainedSAEError, match="read after it, at post_feedforward_layernorm"):
        import_pretrained(tmp_path / "run" / "h.0.mlp", mlp, gemma2)  # Gemma 2's MLP update is read after its norm


def edit_cfg(folder, **changes):
    path = folder / "cfg.json"
    cfg = json.loads(path.read_text())
    for key, value in changes.items():
        if key.startswith("metadata."):
            cfg["metadata"][key.removeprefix("metadata.")] = value
        elif value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path.write_text(json.dumps(cfg))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"architecture": "batchtopk"}, "save_inference_model"),
        ({"architecture": "gated"}, "architecture 'gated'"),
        ({"normalize_activations": "covariance_whitening"}, "fold them into the weights"),
        ({"reshape_activations": "hook_z"}, "per-head vectors"),
        ({"metadata.hook_head_index": 3}, "one attention head"),
        ({"metadata.model_from_pretrained_kwargs": None}, "center_writing_weights: true"),
        ({"metadata.model_from_pretrained_kwargs": {"first_n_layers": 2}}, "first_n_layers"),
    ],
)
def test_what_cannot_be_honoured_is_refused_with_the_way_out(tmp_path, changes, message):
    saelens_sae(tmp_path / "sae", "standard", "blocks.2.hook_resid_pre", D_IN, D_SAE)
    edit_cfg(tmp_path / "sae", **changes)
    with pytest.raises(PretrainedSAEError, match=message):
        read_spec(tmp_path / "sae", "sae_lens")


def test_the_config_states_what_a_release_leaves_unsaid(tmp_path):
    """As SAELens's directory does for gpt2-small-res-jb: cfg.json is silent, the entry says centred."""
    saelens_sae(tmp_path / "sae", "standard", "blocks.2.hook_resid_pre", D_IN, D_SAE, kwargs=None)
    spec = read_spec(tmp_path / "sae", "sae_lens", {"model_from_pretrained_kwargs": {"center_writing_weights": True}})
    assert spec.for_model(layer_norm_model=True).centre_input


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"transcode": True}, "transcoding"),
        ({"skip_connection": True}, "skip"),
        ({"activation": "groupmax"}, "activation"),
    ],
)
def test_sparsify_options_interpflow_cannot_honour_are_refused(tmp_path, changes, message):
    sparsify_sae(tmp_path / "run", "layers.2", D_IN)
    edit_cfg(tmp_path / "run" / "layers.2", **changes)
    with pytest.raises(PretrainedSAEError, match=message):
        read_spec(tmp_path / "run" / "layers.2", "sparsify")


# --- config entries: model, provisioning from the Hugging Face cache ---------------------------------
def entries_config(tmp_path, **entry) -> dict:
    models = {
        "embedded": {"source": "embedded", "n_layer": 3, "n_embd": D_IN, "n_head": 4, "n_positions": 64, "seed": 1},
        "gpt2": {"source": "hub", "hub_id": "openai-community/gpt2", "n_layer": 12},
    }
    return {"model_dir": str(tmp_path / "models"), "models": models, "saes": {"s": {"format": "sae_lens", **entry}}}


def test_the_model_an_sae_reads_is_its_model_name_or_the_entry_s(tmp_path):
    saelens_sae(tmp_path / "sae", "standard", "blocks.2.hook_resid_pre", D_IN, D_SAE, model_name="gpt2")
    config = entries_config(tmp_path, source="local", path=str(tmp_path / "sae"))
    assert trained_on(config, "s", entry_spec(config, "s", tmp_path)) == "gpt2"
    edit_cfg(tmp_path / "sae", **{"metadata.model_name": "openai-community/gpt2"})
    assert trained_on(config, "s", entry_spec(config, "s", tmp_path)) == "gpt2"
    edit_cfg(tmp_path / "sae", **{"metadata.model_name": "gpt2-small"})
    with pytest.raises(ConfigError, match=r"saes\.s\.model.*'gpt2-small'.*no configured model"):
        trained_on(config, "s", entry_spec(config, "s", tmp_path))
    config["saes"]["s"]["model"] = "gpt2"
    assert trained_on(config, "s", entry_spec(config, "s", tmp_path)) == "gpt2"


def fake_hub_sae(hf_home, repo_id, folder, source, revision="a" * 40):
    """``source``'s files as the Hugging Face cache keeps repository ``repo_id`` at ``revision``, under ``folder``."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    target = repo / "snapshots" / revision / folder
    shutil.copytree(source, target)
    return target


def test_a_hub_sae_is_read_and_provisioned_from_the_cache_offline(tmp_path, monkeypatch):
    saelens_sae(tmp_path / "sae", "topk", "blocks.2.hook_resid_pre", D_IN, D_SAE, k=4)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    entry = {"source": "hub", "hub_id": "someone/saes", "folder": "blocks.2.hook_resid_pre", "revision": "a" * 40}
    config = entries_config(tmp_path, **entry)
    with pytest.raises(
        ConfigError, match=r"saes\.s.*not available.*HF_HUB_OFFLINE.*huggingface-cli download someone/saes"
    ):
        entry_spec(config, "s", tmp_path)
    fake_hub_sae(tmp_path / "hf", "someone/saes", "blocks.2.hook_resid_pre", tmp_path / "sae")
    assert entry_spec(config, "s", tmp_path).sae.k == 4  # read from the cache, before provisioning
    out = tmp_path / "models" / "saes" / "s"
    provision_hub_sae("s", config["saes"]["s"], out)
    record = json.loads((out / "interpflow_sae.json").read_text())
    assert record["commit"] == "a" * 40 and record["hub_id"] == "someone/saes"
    weights = out / "blocks.2.hook_resid_pre" / "sae_weights.safetensors"
    source = tmp_path / "sae" / "sae_weights.safetensors"
    assert weights.read_bytes() == source.read_bytes()
    assert (
        record["files"]["blocks.2.hook_resid_pre/sae_weights.safetensors"]
        == hashlib.sha256(source.read_bytes()).hexdigest()
    )
    assert entry_spec(config, "s", tmp_path).sae.k == 4  # now from the provisioned copy


# --- the worked example of docs/pretrained-saes.md ---------------------------------------------------
JB_CFG = {  # the layout of a gpt2-small-res-jb cfg.json (SAELens before 6: the options at the top level)
    "model_name": "gpt2-small",
    "hook_point": "blocks.8.hook_resid_pre",
    "hook_point_layer": 8,
    "hook_point_head_index": None,
    "dataset_path": "Skylion007/openwebtext",
    "context_size": 128,
    "d_in": 768,
    "d_sae": 24576,
    "activation_fn": "relu",
    "apply_b_dec_to_input": True,
    "normalize_activations": False,
    "prepend_bos": True,
    "dtype": "torch.float32",
}


def documented_overlay() -> dict:
    import re

    import yaml

    from tests.conftest import ROOT

    page = (ROOT / "docs" / "pretrained-saes.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", page, flags=re.S) if "corpora:" in b and "res_jb_8" in b)
    return yaml.safe_load(block.replace("<the commit>", "a" * 40))


def test_the_documented_gpt2_small_res_jb_entry_resolves_as_the_release_was_trained(
    tmp_path, monkeypatch, project_config
):
    """The worked example's overlay on the project's config, the release's cfg.json in a Hugging Face cache:
    layer 8's residual stream of gpt2, centred; without the entry's `model` or its TransformerLens arguments,
    start-up names what is missing."""
    import copy

    import huggingface_hub.constants

    from interpflow.config import validate_config
    from tests.conftest import ROOT

    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "cfg.json").write_text(json.dumps(JB_CFG))
    fake_hub_sae(tmp_path / "hf", "jbloom/GPT2-Small-SAEs-Reformatted", "blocks.8.hook_resid_pre", folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    overlay = documented_overlay()

    def validated(*left_out):
        config = copy.deepcopy(project_config)
        for section, values in overlay.items():
            config.setdefault(section, {}).update(copy.deepcopy(values))
        config["model_dir"] = str(tmp_path / "models")
        for key in left_out:
            del config["saes"]["res_jb_8"][key]
        validate_config(config, ROOT, references=False)
        return config

    instance = validated()["streaming_sae"]["res_jb_8"]
    assert (instance["layer"], instance["site"], instance["models"]) == (8, "hook_resid_pre", ["gpt2"])
    spec = entry_spec(validated(), "res_jb_8", ROOT)
    assert spec.for_model(layer_norm_model=True).centre_input and spec.sae.architecture == "standard"
    with pytest.raises(ConfigError, match=r"saes\.res_jb_8\.model.*'gpt2-small'"):
        validated("model")
    with pytest.raises(ConfigError, match=r"saes\.res_jb_8\.model_from_pretrained_kwargs.*center_writing_weights"):
        validated("model_from_pretrained_kwargs")

"""What a pretrained SAE's folder says, in interpflow's terms, read from its config file alone (no torch).

Two formats:

- ``sae_lens``: SAELens's folder, ``cfg.json`` + ``sae_weights.safetensors`` (+ ``sparsity.safetensors``).
  Releases from before SAELens 6 keep the activation options at the top level of ``cfg.json``
  (``hook_point``, ``activation_fn_str``); SAELens 6 keeps them under ``metadata``. Both are read.
  Architectures: ``standard`` (ReLU), ``topk`` and ``jumprelu``; a BatchTopK SAE is used at inference
  as the ``jumprelu`` folder SAELens saves for it (``save_inference_model``).
- ``sparsify``: EleutherAI sparsify's folder per hookpoint, ``cfg.json`` + ``sae.safetensors``; the
  folder's name is the hookpoint, a Hugging Face module whose output the SAE read (``layers.<L>`` or
  ``h.<L>``: the block's output; ``<block>.mlp``: the MLP's). Its activations are the model's as its
  weights are: nothing centred or folded.

:func:`read_spec` gives a :class:`PretrainedSpec` or raises :class:`PretrainedSAEError` naming the
option interpflow cannot honour and what to do. How the activations were taken is honoured as follows:

- ``model_from_pretrained_kwargs`` (TransformerLens's ``from_pretrained`` arguments, in ``metadata``
  or given in the config, as SAELens's directory of releases does): ``center_writing_weights`` removes
  each token's mean over the residual width from residual-stream sites (LayerNorm models; TransformerLens
  does not centre RMSNorm models); ``fold_ln``, ``center_unembed``, ``fold_value_biases`` and
  ``refactor_factored_attn_matrices`` change no site an SAE here reads. A release that does not say is
  an error: TransformerLens centres by default and SAELens trains without, so the config must say.
- ``normalize_activations``: ``none``, ``constant_norm_rescale`` and ``layer_norm`` per token, as SAELens
  computes them; ``expected_average_only_in`` with the release's ``norm_scaling_factor`` (config), folded
  into the weights as SAELens does on loading.
- ``prepend_bos``: the corpus's windows must begin as the SAE's training windows did (checked at start-up).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interpflow.runtime.saved_fields import SavedFields

FORMATS = ("sae_lens", "sparsify")
CONFIG_FILE = "cfg.json"
WEIGHTS_FILES = {"sae_lens": "sae_weights.safetensors", "sparsify": "sae.safetensors"}
ARCHITECTURES = ("standard", "topk", "jumprelu")
NORMALIZATIONS = ("none", "constant_norm_rescale", "layer_norm")
# TransformerLens's from_pretrained arguments and whether they change a site an SAE here reads.
WEIGHT_PROCESSING = (
    "center_writing_weights",
    "center_unembed",
    "fold_ln",
    "fold_value_biases",
    "refactor_factored_attn_matrices",
)
# Arguments that say where or in what precision the model ran, not what a site holds.
PLACEMENT = ("device", "n_devices", "move_to_device", "dtype", "torch_dtype", "trust_remote_code")
# Sites whose values TransformerLens's center_writing_weights changes: the residual stream and what writes to it.
RESIDUAL_HOOKS = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out", "hook_mlp_out")
_SPARSIFY_HOOKPOINT = re.compile(r"^(?:.*\.)?(?:layers|h)\.(\d+)(\.mlp)?$")


class PretrainedSAEError(ValueError):
    """A pretrained SAE interpflow cannot read as it was meant: ``option`` (a config key below the SAE's
    entry, or a field of its files) and the ``problem`` with the way out."""

    def __init__(self, option: str, problem: str):
        self.option, self.problem = option, problem
        super().__init__(f"{option}: {problem}")


@dataclass(frozen=True)
class PretrainedSAEConfig(SavedFields):
    """What a pretrained SAE computes (:class:`interpflow.sae.interop.pretrained.PretrainedSAE`): its ``architecture``,
    the ``site`` it reads (a TransformerLens hook name), its widths, ``k`` (topk), and how its input is
    prepared; ``centre_input``: each token's mean over the width is removed first."""

    architecture: str
    site: str
    input_dim: int
    latent_dim: int
    k: int | None
    apply_b_dec_to_input: bool
    normalize_activations: str
    rescale_acts_by_decoder_norm: bool
    centre_input: bool

    @property
    def variant(self) -> str:
        return f"pretrained_{self.architecture}"


@dataclass(frozen=True)
class PretrainedSpec:
    """A pretrained SAE as its files (and its config entry) describe it: ``sae``, what it computes, with
    ``centre_input`` where its activations were centred (before the model's norm is known:
    :meth:`for_model`), and what the files say about the activations.

    ``prepend_bos`` is ``None`` where the files do not say (sparsify). ``model_from_pretrained_kwargs``
    is what the activations were taken under (config over files; ``{}`` for sparsify).
    """

    format: str
    sae: PretrainedSAEConfig
    norm_scaling_factor: float | None
    model_from_pretrained_kwargs: dict[str, Any]
    model_name: str | None
    prepend_bos: bool | None
    context_size: int | None
    dataset_path: str | None
    files_config: dict[str, Any] = field(repr=False, compare=False)

    @property
    def weights_file(self) -> str:
        return WEIGHTS_FILES[self.format]

    def for_model(self, layer_norm_model: bool) -> PretrainedSAEConfig:
        """The SAE's config on a model with LayerNorm (``True``) or RMSNorm: TransformerLens centres the
        residual stream of LayerNorm models only."""
        return dataclasses.replace(self.sae, centre_input=self.sae.centre_input and layer_norm_model)


def _centred(kwargs: dict[str, Any], site: str) -> bool:
    """TransformerLens's ``center_writing_weights`` at a residual-stream ``site`` (of a LayerNorm model)."""
    return bool(kwargs.get("center_writing_weights", False)) and site.rsplit(".", 1)[-1] in RESIDUAL_HOOKS


def read_spec(
    folder: str | Path, format: str, overrides: dict[str, Any] | None = None, require_weights: bool = True
) -> PretrainedSpec:
    """The :class:`PretrainedSpec` of the SAE in ``folder`` (``format``: one of :data:`FORMATS`).

    ``overrides``: the config entry's ``model_from_pretrained_kwargs`` and ``norm_scaling_factor``
    (absent or ``None`` where not given). ``require_weights``: the weights file must be there too (not for
    a ``cfg.json`` read alone from the Hugging Face cache)."""
    folder, overrides = Path(folder), overrides or {}
    needed = (CONFIG_FILE, WEIGHTS_FILES[format]) if require_weights else (CONFIG_FILE,)
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise PretrainedSAEError(
            "path",
            f"{folder} is not a {format} SAE folder: it has no {' and no '.join(missing)}"
            + ("" if format == "sparsify" else "; a sparsify folder holds sae.safetensors: set format: sparsify"),
        )
    cfg = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    reader = _read_sae_lens if format == "sae_lens" else _read_sparsify
    return reader(folder, cfg, overrides)


def _read_sae_lens(folder: Path, cfg: dict[str, Any], overrides: dict[str, Any]) -> PretrainedSpec:
    metadata = {**_top_level_metadata(cfg), **(cfg.get("metadata") or {})}
    architecture = _architecture(cfg)
    hook_name = metadata.get("hook_name")
    if not hook_name:
        raise PretrainedSAEError("cfg.json", "names no hook (metadata.hook_name): which site it reads is unknown")
    if metadata.get("hook_head_index") is not None:
        raise PretrainedSAEError(
            "cfg.json",
            f"reads one attention head (hook_head_index {metadata['hook_head_index']}); interpflow's "
            "SAEs read one vector per token",
        )
    if cfg.get("reshape_activations", "none") != "none":
        raise PretrainedSAEError(
            "cfg.json",
            f"reshape_activations {cfg['reshape_activations']!r}: the SAE reads per-head vectors flattened; "
            "interpflow's SAEs read residual and MLP sites",
        )
    k = cfg.get("k", (cfg.get("activation_fn_kwargs") or {}).get("k")) if architecture == "topk" else None
    if architecture == "topk" and not k:
        raise PretrainedSAEError("cfg.json", "a topk SAE without k")
    normalization, factor = _normalization(cfg.get("normalize_activations", "none"), overrides)
    kwargs = overrides.get("model_from_pretrained_kwargs")
    if kwargs is None:
        kwargs = metadata.get("model_from_pretrained_kwargs")
    if kwargs is None:
        raise PretrainedSAEError(
            "model_from_pretrained_kwargs",
            "cfg.json does not say how the activations were taken (metadata.model_from_pretrained_kwargs). "
            "TransformerLens's from_pretrained centres the residual stream by default (center_writing_weights) "
            "and SAELens trains without, so the SAE's inputs differ by each token's mean; state it as the release "
            "does (SAELens's pretrained_saes.yaml, config_overrides), e.g. "
            "model_from_pretrained_kwargs: {center_writing_weights: true}",
        )
    _check_kwargs(kwargs)
    return PretrainedSpec(
        format="sae_lens",
        sae=PretrainedSAEConfig(
            architecture=architecture,
            site=hook_name,
            input_dim=int(cfg["d_in"]),
            latent_dim=int(cfg["d_sae"]),
            k=None if k is None else int(k),
            apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
            normalize_activations=normalization,
            rescale_acts_by_decoder_norm=bool(cfg.get("rescale_acts_by_decoder_norm", False)),
            centre_input=_centred(kwargs, hook_name),
        ),
        norm_scaling_factor=factor,
        model_from_pretrained_kwargs=dict(kwargs),
        model_name=metadata.get("model_name"),
        prepend_bos=metadata.get("prepend_bos", True),
        context_size=metadata.get("context_size"),
        dataset_path=metadata.get("dataset_path"),
        files_config=cfg,
    )


def _top_level_metadata(cfg: dict[str, Any]) -> dict[str, Any]:
    """The activation options a pre-6 SAELens ``cfg.json`` keeps at its top level, under their SAELens 6 names."""
    keys = ("hook_name", "hook_head_index", "model_name", "prepend_bos", "context_size", "dataset_path")
    values = {key: cfg[key] for key in keys if key in cfg}
    if "hook_point" in cfg:
        values.setdefault("hook_name", cfg["hook_point"])
    if "hook_point_head_index" in cfg:
        values.setdefault("hook_head_index", cfg["hook_point_head_index"])
    if "model_from_pretrained_kwargs" in cfg:
        values["model_from_pretrained_kwargs"] = cfg["model_from_pretrained_kwargs"]
    return values


def _architecture(cfg: dict[str, Any]) -> str:
    activation = cfg.get("activation_fn", cfg.get("activation_fn_str", "relu"))
    architecture = cfg.get("architecture") or ("topk" if activation == "topk" else "standard")
    if architecture == "standard" and activation == "topk":  # SAELens before 6 wrote TopK SAEs so
        architecture = "topk"
    if architecture == "batchtopk":
        raise PretrainedSAEError(
            "cfg.json",
            "architecture 'batchtopk' is SAELens's training form; at inference a BatchTopK SAE is the jumprelu SAE "
            "SAELens saves for it: save it with sae.save_inference_model(folder) and read that folder",
        )
    if architecture not in ARCHITECTURES:
        raise PretrainedSAEError(
            "cfg.json",
            f"architecture {architecture!r}: interpflow reads {', '.join(ARCHITECTURES)} (and batchtopk "
            "as SAELens saves it for inference, a jumprelu folder)",
        )
    if architecture == "standard" and activation not in ("relu", None):
        raise PretrainedSAEError("cfg.json", f"a standard SAE with activation {activation!r}: interpflow reads relu")
    return architecture


def _normalization(value: Any, overrides: dict[str, Any]) -> tuple[str, float | None]:
    if isinstance(value, bool):  # SAELens before 6 wrote a flag
        value = "expected_average_only_in" if value else "none"
    factor = overrides.get("norm_scaling_factor")
    if value == "expected_average_only_in":
        if factor is None:
            raise PretrainedSAEError(
                "norm_scaling_factor",
                "cfg.json says normalize_activations: expected_average_only_in, whose scaling factor the folder "
                "does not hold; give the release's (SAELens's pretrained_saes.yaml, norm_scaling_factor) as "
                "norm_scaling_factor: <number>, or fold it into the weights with SAELens before saving",
            )
        return "none", float(factor)
    if value not in NORMALIZATIONS:
        raise PretrainedSAEError(
            "cfg.json",
            f"normalize_activations {value!r}: its statistics are not in the folder; fold them into the weights "
            f"with SAELens before saving (interpflow honours {', '.join(NORMALIZATIONS)} and expected_average_only_in)",
        )
    if factor is not None:
        raise PretrainedSAEError(
            "norm_scaling_factor", f"given, but cfg.json says normalize_activations: {value}; leave it out"
        )
    return value, None


def _check_kwargs(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - set(WEIGHT_PROCESSING) - set(PLACEMENT))
    if unknown:
        raise PretrainedSAEError(
            "model_from_pretrained_kwargs",
            f"{unknown}: interpflow cannot say what these do to the activations (it honours "
            f"{', '.join(WEIGHT_PROCESSING + PLACEMENT)}); take the SAE's activations another way or drop them "
            "in the config's model_from_pretrained_kwargs if they change nothing the SAE reads",
        )


def _read_sparsify(folder: Path, cfg: dict[str, Any], overrides: dict[str, Any]) -> PretrainedSpec:
    match = _SPARSIFY_HOOKPOINT.match(folder.name)
    if match is None:
        raise PretrainedSAEError(
            "path",
            f"sparsify names the folder by its hookpoint; {folder.name!r} is none interpflow reads ('layers.<L>' or "
            "'h.<L>', a block's output, or '<block>.mlp', its MLP's)",
        )
    refused = {
        "activation": cfg.get("activation", "topk") != "topk",
        "transcode": bool(cfg.get("transcode")),
        "skip_connection": bool(cfg.get("skip_connection")),
        "embed_skip": bool(cfg.get("embed_skip")),
        "gram_lookup": bool(cfg.get("gram_lookup")),
    }
    if any(refused.values()):
        options = ", ".join(f"{key}: {cfg.get(key)}" for key, on in refused.items() if on)
        raise PretrainedSAEError(
            "cfg.json",
            f"{options}: interpflow reads sparsify's TopK autoencoders (activation topk, no transcoding "
            "or skip connections)",
        )
    if overrides.get("model_from_pretrained_kwargs") or overrides.get("norm_scaling_factor") is not None:
        raise PretrainedSAEError(
            "model_from_pretrained_kwargs",
            "sparsify reads the model's own activations (nothing centred, folded or scaled); leave the TransformerLens "
            "options out",
        )
    layer, mlp = int(match.group(1)), match.group(2)
    d_in = int(cfg["d_in"])
    return PretrainedSpec(
        format="sparsify",
        sae=PretrainedSAEConfig(
            architecture="topk",
            site=f"blocks.{layer}.{'hook_mlp_out' if mlp else 'hook_resid_post'}",
            input_dim=d_in,
            latent_dim=int(cfg.get("num_latents") or d_in * cfg["expansion_factor"]),
            k=int(cfg["k"]),
            apply_b_dec_to_input=True,
            normalize_activations="none",
            rescale_acts_by_decoder_norm=False,
            centre_input=False,
        ),
        norm_scaling_factor=None,
        model_from_pretrained_kwargs={},
        model_name=_sparsify_model_name(folder),
        prepend_bos=None,
        context_size=None,
        dataset_path=None,
        files_config=cfg,
    )


def _sparsify_model_name(folder: Path) -> str | None:
    """The model of a sparsify run: its training config (``config.json`` beside the hookpoint folders)."""
    run = folder.parent / "config.json"
    if not run.is_file():
        return None
    return json.loads(run.read_text(encoding="utf-8")).get("model")

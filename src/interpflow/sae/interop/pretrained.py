"""A pretrained SAE (SAELens or sparsify, :mod:`interpflow.sae.interop.pretrained_formats`) as a module that reads
interpflow's activations.

``forward(x)`` takes a site's activations as interpflow stores them (the model's own, ``(tokens, input)``)
and gives ``(x_hat, z)`` in the same space, so that every metric, and a splice into the model, treats a
pretrained SAE like a trained one. In between, as the SAE was trained:

1. ``centre_input``: each token's mean over the width is removed (TransformerLens's
   ``center_writing_weights``) and added back to ``x_hat``;
2. ``normalize_activations``: ``constant_norm_rescale`` scales each token to norm ``sqrt(input_dim)``,
   ``layer_norm`` subtracts its mean and divides by its (Bessel-corrected) standard deviation plus 1e-5, and
   ``x_hat`` is scaled back (by the standard deviation alone, as SAELens does);
3. ``pre = (x - b_dec * apply_b_dec_to_input) @ W_enc.T + b_enc`` (times each decoder row's norm when
   ``rescale_acts_by_decoder_norm``), then ``standard``: ``relu(pre)``; ``topk``: the ``k`` largest, then
   ReLU; ``jumprelu``: ``relu(pre)`` where ``pre > threshold``, else 0;
4. ``x_hat = z @ W_dec + b_dec`` (``z`` divided by the decoder rows' norms when rescaled).

Weights are kept float32, in interpflow's orientation: ``W_enc`` and ``W_dec`` ``(latents, input)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from interpflow.sae.interop.pretrained_formats import PretrainedSAEConfig, PretrainedSAEError, PretrainedSpec

LAYER_NORM_EPS = 1e-5


class PretrainedSAE(nn.Module):
    """The steps of the module docstring: ``W_enc``, ``W_dec`` ``(latents, input)``, ``b_enc`` ``(latents,)``,
    ``b_dec`` ``(input,)`` and, for ``jumprelu``, ``threshold`` ``(latents,)``."""

    def __init__(self, config: PretrainedSAEConfig):
        super().__init__()
        self.config = config
        latents, width = config.latent_dim, config.input_dim
        self.W_enc = nn.Parameter(torch.zeros(latents, width))
        self.b_enc = nn.Parameter(torch.zeros(latents))
        self.W_dec = nn.Parameter(torch.zeros(latents, width))
        self.b_dec = nn.Parameter(torch.zeros(width))
        if config.architecture == "jumprelu":
            self.threshold = nn.Parameter(torch.zeros(latents))

    def _prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x`` as the SAE saw its inputs, and the per-token ``shift`` and ``scale`` that map its
        reconstructions back: ``x_hat = reconstruction * scale + shift``."""
        shift = torch.zeros_like(x[:, :1])
        scale = torch.ones_like(x[:, :1])
        if self.config.centre_input:
            shift = x.mean(dim=1, keepdim=True)
            x = x - shift
        if self.config.normalize_activations == "constant_norm_rescale":
            scale = x.norm(dim=1, keepdim=True) / self.config.input_dim**0.5
            x = x / scale
        elif self.config.normalize_activations == "layer_norm":
            mean = x.mean(dim=1, keepdim=True)
            x = x - mean
            scale = x.std(dim=1, keepdim=True)
            x, shift = x / (scale + LAYER_NORM_EPS), shift + mean  # SAELens scales back without the epsilon
        return x, shift, scale

    def _latents(self, prepared: torch.Tensor) -> torch.Tensor:
        config = self.config
        pre = (prepared - self.b_dec * config.apply_b_dec_to_input) @ self.W_enc.T + self.b_enc
        if config.rescale_acts_by_decoder_norm:
            pre = pre * self.W_dec.norm(dim=1)
        if config.architecture == "topk":
            top = pre.topk(config.k, dim=1)
            return torch.zeros_like(pre).scatter(1, top.indices, top.values.relu())
        if config.architecture == "jumprelu":
            return pre.relu() * (pre > self.threshold)
        return pre.relu()

    def _reconstruct(self, z: torch.Tensor) -> torch.Tensor:
        if self.config.rescale_acts_by_decoder_norm:
            z = z / self.W_dec.norm(dim=1)
        return z @ self.W_dec + self.b_dec

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(tokens, input)`` -> ``(tokens, latents)``."""
        return self._latents(self._prepare(x)[0])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_hat, z)`` for ``x`` ``(tokens, input)``, ``x_hat`` in the space of ``x``."""
        prepared, shift, scale = self._prepare(x)
        z = self._latents(prepared)
        return self._reconstruct(z) * scale + shift, z


def pretrained_weights(folder: str | Path, spec: PretrainedSpec) -> dict[str, torch.Tensor]:
    """The SAE's weights from its folder, float32, in :class:`PretrainedSAE`'s names and orientation, with
    ``norm_scaling_factor`` folded in (``W_enc`` times it, ``W_dec`` and ``b_dec`` divided by it, as SAELens)."""
    stored = {name: value.float() for name, value in load_file(str(Path(folder) / spec.weights_file)).items()}
    if "scaling_factor" in stored and torch.equal(stored["scaling_factor"], torch.ones_like(stored["scaling_factor"])):
        del stored["scaling_factor"]  # SAELens wrote an identity scaling into some releases; it changes nothing
    if spec.format == "sparsify":
        names = {"encoder.weight": "W_enc", "encoder.bias": "b_enc", "W_dec": "W_dec", "b_dec": "b_dec"}
        weights = {names[name]: value for name, value in stored.items() if name in names}
    else:
        names = {"W_enc", "b_enc", "W_dec", "b_dec", "threshold", "log_threshold"}
        weights = {name: value for name, value in stored.items() if name in names}
        weights["W_enc"] = weights["W_enc"].T
        if "log_threshold" in weights:
            weights["threshold"] = weights.pop("log_threshold").exp()
    if unknown := sorted(set(stored) - set(names)):
        raise PretrainedSAEError(
            spec.weights_file, f"holds {unknown}, which interpflow's {spec.sae.architecture} SAE has no use for"
        )
    weights.setdefault("b_enc", torch.zeros(spec.sae.latent_dim))
    weights.setdefault("b_dec", torch.zeros(spec.sae.input_dim))
    if spec.norm_scaling_factor is not None:
        factor = spec.norm_scaling_factor
        weights.update(
            W_enc=weights["W_enc"] * factor, W_dec=weights["W_dec"] / factor, b_dec=weights["b_dec"] / factor
        )
    expected = {"W_enc": (spec.sae.latent_dim, spec.sae.input_dim), "W_dec": (spec.sae.latent_dim, spec.sae.input_dim)}
    for name, shape in expected.items():
        if tuple(weights[name].shape) != shape:
            raise PretrainedSAEError(
                spec.weights_file, f"{name} is {tuple(weights[name].shape)}, not {shape} as cfg.json's widths say"
            )
    if spec.sae.architecture == "jumprelu" and "threshold" not in weights:
        raise PretrainedSAEError(spec.weights_file, "a jumprelu SAE without threshold")
    return {name: value.contiguous() for name, value in weights.items()}


def build(config: PretrainedSAEConfig) -> PretrainedSAE:
    return PretrainedSAE(config)


def import_pretrained(
    folder: str | Path, spec: PretrainedSpec, model_config: dict
) -> tuple[PretrainedSAE, PretrainedSAEConfig]:
    """The SAE in ``folder`` (as ``spec`` reads it) as a :class:`PretrainedSAE` (eval mode) for the model whose
    ``config.json`` values are ``model_config``: its site must be as wide as the SAE's input, and its norm
    decides whether TransformerLens's centring applies."""
    from interpflow.models.architectures import adapter_for
    from interpflow.models.dimensions import model_widths, site_width

    width = site_width(model_widths(model_config), spec.sae.site)
    if width != spec.sae.input_dim:
        raise PretrainedSAEError(
            "cfg.json",
            f"the SAE reads {spec.sae.input_dim} values per token, but {spec.sae.site} of the model is {width} wide",
        )
    adapter = adapter_for(model_config["model_type"])
    mlp_out = adapter.hook_points["hook_mlp_out"].module
    if spec.format == "sparsify" and spec.sae.site.endswith("hook_mlp_out") and not mlp_out.startswith("mlp."):
        raise PretrainedSAEError(
            "path",
            f"sparsify's '<block>.mlp' hookpoint is the MLP module's output, but this family's hook_mlp_out is "
            f"read after it, at {mlp_out} (a norm): no interpflow site holds what the SAE read",
        )
    config = spec.for_model(layer_norm_model=adapter.centred_norm)
    module = PretrainedSAE(config)
    module.load_state_dict(pretrained_weights(folder, spec))
    return module.eval(), config

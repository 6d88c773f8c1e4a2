"""Direct logit attribution: each component's share of the answer's logit difference at the last position.

The metric is ``logit(answer) - logit(wrong answer)`` at the last position of the clean prompt, before any
soft-cap of the logits (Gemma 2 caps them; the cap is not linear). With the final norm's scale ``s``
frozen at its clean value (the root mean square of the centred residual for LayerNorm, of the residual for
RMSNorm, each with its ``eps``), the logit difference is linear in the residual ``x`` entering the norm::

    logit_diff = x · r + b_norm · d + (b_U[answer] - b_U[wrong]),   d = W_U[answer] - W_U[wrong],
    r = w ⊙ d / s  (then centred, for LayerNorm: the norm removes x's mean, so r's is removed instead)

with ``w`` the norm's weight (``1 + weight`` in Gemma) and ``b_norm`` its bias (LayerNorm families). The
residual is the sum of the components' outputs (the residual identity), so ``x · r`` splits exactly
into the embedding's term (``blocks.0.hook_resid_pre``), each block's attention and MLP update
(``hook_attn_out``, ``hook_mlp_out``), and within them each head (``attn.hook_z`` through the output
projection) with the projection's bias, and each neuron (``mlp.hook_post`` through the down projection)
with its bias. Gemma 2 normalizes each update before adding it: that norm's scale is frozen at its
clean value too, so each head and neuron term is exact at the clean run. The projections are linear, so
a head's term is ``z_h · ∂(P(z) · r)/∂z_h`` and its bias ``P(0) · r``, whatever the family's weight
layout (autograd reads it from the module).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from interpflow.circuits.clean_runs import clean_activations
from interpflow.methods.direct_logit_attribution.method import METHOD
from interpflow.methods.direct_logit_attribution.tables import attribution_by_pair_table, attribution_table, pairs_table
from interpflow.models.architectures import Adapter, adapter_of
from interpflow.models.sites import block_site
from interpflow.stores.prompt_pairs import read_pairs, tokenize_pairs

HEAD_SITE = "attn.hook_z"
NEURON_SITE = "mlp.hook_post"


def norm_epsilon(norm: nn.Module) -> float:
    return float(norm.eps if hasattr(norm, "eps") else norm.variance_epsilon)


def frozen_norm_direction(adapter: Adapter, norm: nn.Module, x: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """``r`` ``(d_model,)`` float64 with ``norm(v) · direction = v · r + norm.bias · direction`` for every ``v``
    when the norm's scale is frozen at its value for ``x`` ``(d_model,)`` (its clean input)."""
    x = x.double()
    centred = adapter.centred_norm
    spread = x - x.mean() if centred else x
    scale = torch.sqrt(spread.pow(2).mean() + norm_epsilon(norm))
    r = adapter.norm_scale(norm).detach().double() * direction / scale
    return r - r.mean() if centred else r


def norm_bias_term(norm: nn.Module, direction: torch.Tensor) -> float:
    bias = getattr(norm, "bias", None)
    return 0.0 if bias is None else float(bias.detach().double() @ direction)


def linear_terms(module: nn.Module, value: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, float]:
    """For a linear ``module`` (an output or down projection) and its input ``value`` ``(width,)``: each
    input element's term of ``module(value) · r``, ``(width,)`` float64, and the bias's term ``module(0) · r``."""
    weights = next(module.parameters())
    point = value.to(weights.dtype).unsqueeze(0).clone().requires_grad_(True)
    with torch.enable_grad():
        (gradient,) = torch.autograd.grad(module(point)[0].double() @ r, point)
    with torch.no_grad():
        bias = float(module(torch.zeros_like(point))[0].double() @ r)
    return value.double() * gradient[0].double(), bias


@dataclass(frozen=True)
class PairAttribution:
    """One pair's terms (logit units, float64): ``embed``; per block ``heads`` ``(n_layer, n_head)``,
    ``attn_bias`` and ``mlp`` ``(n_layer,)``; ``neurons`` ``(n_layer, d_mlp)`` and ``mlp_bias`` ``(n_layer,)``
    (``None`` unless asked for); ``attn`` ``(n_layer,)`` the updates' own terms; the constant terms
    ``final_norm_bias`` and ``unembed_bias``; and ``logit_diff``, the model's own (pre-cap) logit difference."""

    embed: float
    heads: np.ndarray
    attn_bias: np.ndarray
    attn: np.ndarray
    mlp: np.ndarray
    neurons: np.ndarray | None
    mlp_bias: np.ndarray | None
    final_norm_bias: float
    unembed_bias: float
    logit_diff: float

    @property
    def parts_sum(self) -> float:
        """The sum of the non-overlapping parts: embedding, heads with their biases, MLPs, constants."""
        return float(
            self.embed
            + self.heads.sum()
            + self.attn_bias.sum()
            + self.mlp.sum()
            + self.final_norm_bias
            + self.unembed_bias
        )


@torch.no_grad()
def attribute_pair(
    model: nn.Module, clean: dict[str, torch.Tensor], answer: int, wrong: int, neurons: bool = False
) -> PairAttribution:
    """The terms of one clean prompt's logit difference; ``clean``: each site of the method's
    ``required_sites`` at the last position (``(width,)``, ``(n_head, d_head)`` for the heads)."""
    adapter = adapter_of(model)
    blocks = adapter.blocks(model)
    n_layer = len(blocks)
    final_norm = adapter.final_norm(model)
    unembedding = model.get_output_embeddings()
    d = (unembedding.weight[answer] - unembedding.weight[wrong]).detach().double()
    x = clean[block_site(n_layer - 1, "hook_resid_post")]
    r = frozen_norm_direction(adapter, final_norm, x, d)
    bias = getattr(unembedding, "bias", None)
    unembed_bias = 0.0 if bias is None else float(bias[answer] - bias[wrong])
    weights = next(model.parameters())
    logits = unembedding(final_norm(x.to(weights.dtype).view(1, 1, -1)))[0, 0].double()
    terms = {name: [] for name in ("heads", "attn_bias", "attn", "mlp", "neurons", "mlp_bias")}
    for layer, block in enumerate(blocks):
        z, attn_out = clean[block_site(layer, HEAD_SITE)], clean[block_site(layer, "hook_attn_out")]
        projection = block.get_submodule(adapter.block_hook_point(block, HEAD_SITE).module)
        r_attn = update_direction(adapter, block, "hook_attn_out", HEAD_SITE, projection, z.flatten(), r)
        head_terms, attn_bias = linear_terms(projection, z.flatten(), r_attn)
        terms["heads"].append(head_terms.view(z.shape).sum(-1).numpy())
        terms["attn_bias"].append(attn_bias)
        terms["attn"].append(float(attn_out.double() @ r))
        terms["mlp"].append(float(clean[block_site(layer, "hook_mlp_out")].double() @ r))
        if neurons:
            post = clean[block_site(layer, NEURON_SITE)]
            down = block.get_submodule(adapter.block_hook_point(block, NEURON_SITE).module)
            r_mlp = update_direction(adapter, block, "hook_mlp_out", NEURON_SITE, down, post, r)
            neuron_terms, mlp_bias = linear_terms(down, post, r_mlp)
            terms["neurons"].append(neuron_terms.numpy())
            terms["mlp_bias"].append(mlp_bias)
    return PairAttribution(
        embed=float(clean[block_site(0, "hook_resid_pre")].double() @ r),
        heads=np.stack(terms["heads"]),
        attn_bias=np.array(terms["attn_bias"]),
        attn=np.array(terms["attn"]),
        mlp=np.array(terms["mlp"]),
        neurons=np.stack(terms["neurons"]) if neurons else None,
        mlp_bias=np.array(terms["mlp_bias"]) if neurons else None,
        final_norm_bias=norm_bias_term(final_norm, d),
        unembed_bias=unembed_bias,
        logit_diff=float(logits[answer] - logits[wrong]),
    )


def update_direction(
    adapter: Adapter, block: nn.Module, update: str, inner: str, projection: nn.Module, value: torch.Tensor, r
) -> torch.Tensor:
    """The direction an update's projection output is read along: ``r`` itself, or, where the family
    normalizes the update after its projection (Gemma 2: the update site is read after a norm, not at the
    projection), ``r`` through that norm with its scale frozen at the clean projection output."""
    norm_path = adapter.block_hook_point(block, update).module
    if norm_path == adapter.block_hook_point(block, inner).module:
        return r
    weights = next(projection.parameters())
    projected = projection(value.to(weights.dtype).unsqueeze(0))[0]
    return frozen_norm_direction(adapter, block.get_submodule(norm_path), projected, r)


def attribute_pairs(model: nn.Module, tokenizer, store, path, text_column: str, options: dict) -> dict:
    """``attribution``, ``attribution_by_pair`` and ``pairs`` tables of an instance (``options``) over the
    pairs at ``path``, each clean prompt's activations read from the text set's activation ``store``."""
    pairs = read_pairs(path, text_column, options)
    tokens = tokenize_pairs(pairs, tokenizer, options["answer_prefix"], path)
    n_layer = len(adapter_of(model).blocks(model))
    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    sites = METHOD.required_sites(options, n_layer)
    per_pair = []
    for index in range(len(pairs.clean)):
        clean = clean_activations(store, index, tokens.clean[index], sites, device, dtype)
        last = {site: value[-1] for site, value in clean.items()}
        answer, wrong = tokens.answers[index], tokens.wrong_answers[index]
        per_pair.append(attribute_pair(model, last, answer, wrong, neurons=options["neurons"]))
    return {
        "attribution": attribution_table(per_pair),
        "attribution_by_pair": attribution_by_pair_table(per_pair),
        "pairs": pairs_table(pairs, per_pair),
    }

"""One adapter per decoder-only architecture family: the only code that knows module paths and
block internals. Everything else speaks in site names (:mod:`interpflow.models.sites`).

An adapter says, for one family of Hugging Face causal language models,

- where each site is read: a module and whether its output or its input, and how the site's value
  is cut from that tensor (per-head views of fused projections, the final norm's normalization);
- how to finish a block's MLP from cached values with one neuron site replaced (the cached
  intervention engine, :mod:`interpflow.methods.subspace_removal.interventions`), and how logits
  come from the final norm;
- how to build a tiny random model of the family for offline runs (the embedded models).

``hook_resid_pre`` and ``hook_resid_post`` are every family's block input and output;
``ln_final.output`` is the final norm's output (``ln_f``, ``final_layer_norm``, ``norm``) and
``ln_final.hook_normalized`` is computed from that norm's input. The other hooks are read at these
modules of block L (out: output, in: input). The five attention sites are read inside the block's
attention module (``attn``, ``attention``, ``self_attn``): ``[q]``, ``[k]``, ``[v]`` are the thirds of a
fused q/k/v projection (per head in GPT-NeoX), ``w`` the attention weights the module returns.

=================  ===============  =======================  ===========================  ==============================
site               GPT-2            Pythia (GPT-NeoX)        Llama, Mistral, Qwen2        Gemma 2
=================  ===============  =======================  ===========================  ==============================
attn.hook_q        c_attn out [q]   query_key_value out [q]  q_proj out                   q_proj out
attn.hook_k        c_attn out [k]   query_key_value out [k]  k_proj out                   k_proj out
attn.hook_v        c_attn out [v]   query_key_value out [v]  v_proj out                   v_proj out
attn.hook_pattern  w                w                        w                            w
attn.hook_z        c_proj in        dense in                 o_proj in                    o_proj in
hook_attn_out      attn.c_proj out  attention.dense out      self_attn.o_proj out         post_attention_layernorm out
hook_resid_mid     ln_2 in          none (parallel)          post_attention_layernorm in  pre_feedforward_layernorm in
mlp.hook_pre       mlp.c_fc out     mlp.dense_h_to_4h out    mlp.gate_proj out            mlp.gate_proj out
mlp.hook_post      mlp.c_proj in    mlp.dense_4h_to_h in     mlp.down_proj in             mlp.down_proj in
hook_mlp_out       mlp.c_proj out   mlp.dense_4h_to_h out    mlp.down_proj out            post_feedforward_layernorm out
=================  ===============  =======================  ===========================  ==============================

Attention weights exist only where the model computes them: under the ``eager`` attention
implementation the module returns them; under ``sdpa`` (the default of most families) a hook on
``attn.hook_pattern`` has the family's own eager attention function compute them beside the
``sdpa`` call (:func:`interpflow.models.hooks.hooked`), so every other site keeps the ``sdpa`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from interpflow.models.families import MODEL_TYPES, supported_model_types
from interpflow.models.sites import FINAL_NORMALIZED, FINAL_OUTPUT, Site

OUTPUT, INPUT = "output", "input"


@dataclass(frozen=True)
class Heads:
    """Head counts of a model: ``n_heads`` query heads, ``n_kv_heads`` key-value heads, ``d_head`` wide."""

    n_heads: int
    n_kv_heads: int
    d_head: int

    @classmethod
    def of(cls, config) -> Heads:
        n_heads = config.num_attention_heads
        d_head = getattr(config, "head_dim", None) or config.hidden_size // n_heads
        return cls(n_heads, getattr(config, "num_key_value_heads", None) or n_heads, d_head)


View = Callable[[torch.Tensor, Heads], torch.Tensor]


def query_heads(raw: torch.Tensor, heads: Heads) -> torch.Tensor:
    """``(..., H * d_head)`` -> ``(..., H, d_head)``."""
    return raw.view(*raw.shape[:-1], heads.n_heads, heads.d_head)


def key_value_heads(raw: torch.Tensor, heads: Heads) -> torch.Tensor:
    """``(..., H_kv * d_head)`` -> ``(..., H_kv, d_head)``."""
    return raw.view(*raw.shape[:-1], heads.n_kv_heads, heads.d_head)


def fused_third(index: int) -> View:
    """The ``index``-th third (q, k, v) of a fused ``(..., 3 * H * d_head)`` projection, per head."""

    def view(raw: torch.Tensor, heads: Heads) -> torch.Tensor:
        width = heads.n_heads * heads.d_head
        return query_heads(raw[..., index * width : (index + 1) * width], heads)

    return view


def interleaved_third(index: int) -> View:
    """The ``index``-th of q, k, v from a projection laid out per head as ``(..., H, 3 * d_head)`` (GPT-NeoX)."""

    def view(raw: torch.Tensor, heads: Heads) -> torch.Tensor:
        per_head = raw.view(*raw.shape[:-1], heads.n_heads, 3 * heads.d_head)
        return per_head[..., index * heads.d_head : (index + 1) * heads.d_head]

    return view


@dataclass(frozen=True)
class HookPoint:
    """Where a block hook is read: ``module`` (a path inside the block), its ``output`` or ``input``.

    ``view``: the site as a view of that tensor (so a replaced site writes through it); ``element``:
    which element of a tuple output holds the tensor; ``read_only``: the site can be read but not
    replaced there (e.g. ``hook_resid_mid`` read at the next norm's input, which the residual
    connection does not pass through).
    """

    module: str
    side: str = OUTPUT
    view: View | None = None
    element: int = 0
    read_only: bool = False


@dataclass(frozen=True)
class SiteAccess:
    """A site resolved in one model: the ``module`` to hook, its ``side``, and which ``element`` of
    a tuple output holds the tensor; ``view`` cuts the site from that tensor (``None``: the tensor
    itself), ``derive`` computes a read-only site from it instead. ``attention``: the attention
    module whose weights a pattern site needs."""

    module: nn.Module
    side: str
    element: int = 0
    view: Callable[[torch.Tensor], torch.Tensor] | None = None
    derive: Callable[[torch.Tensor], torch.Tensor] | None = None
    read_only: bool = False
    attention: nn.Module | None = None

    def read(self, raw: torch.Tensor) -> torch.Tensor:
        if self.derive is not None:
            return self.derive(raw)
        return raw if self.view is None else self.view(raw)

    def write(self, raw: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """``raw`` with the site's part replaced by ``value`` (a new tensor; ``raw`` is left as it was)."""
        if self.read_only or self.derive is not None:
            raise ValueError("this site can be read but not replaced")
        if self.view is None:
            return value
        replaced = raw.clone()
        self.view(replaced).copy_(value)
        return replaced


def attention_hook_points(
    attention: str, q: HookPoint, k: HookPoint, v: HookPoint, output: str
) -> dict[str, HookPoint]:
    """The per-head attention sites of a family whose attention module is ``attention`` and whose
    output projection is ``output`` (a path inside the block)."""
    return {
        "attn.hook_q": q,
        "attn.hook_k": k,
        "attn.hook_v": v,
        "attn.hook_pattern": HookPoint(attention, view=token_major, element=1, read_only=True),
        "attn.hook_z": HookPoint(output, INPUT, view=query_heads),
    }


def token_major(weights: torch.Tensor, heads: Heads) -> torch.Tensor:
    """Attention weights ``(batch, head, query, key)`` as ``(batch, query, head, key)``."""
    return weights.transpose(1, 2)


def separate_projections(attention: str) -> tuple[HookPoint, HookPoint, HookPoint]:
    """q, k, v of an attention module with ``q_proj``, ``k_proj`` and ``v_proj``."""
    return (
        HookPoint(f"{attention}.q_proj", view=query_heads),
        HookPoint(f"{attention}.k_proj", view=key_value_heads),
        HookPoint(f"{attention}.v_proj", view=key_value_heads),
    )


def mlp_hook_points(attn_out: str, neurons_in: str, down: str, mlp_out: str | None = None) -> dict[str, HookPoint]:
    """The four in-block hook points of a family whose MLP is ``down(act(neurons_in(x)) [* up(x)])``:
    ``mlp.hook_pre`` is ``neurons_in``'s output, ``mlp.hook_post`` the input of ``down``, and the MLP's
    update ``down``'s output unless a norm follows it (``mlp_out``)."""
    return {
        "hook_attn_out": HookPoint(attn_out),
        "mlp.hook_pre": HookPoint(neurons_in),
        "mlp.hook_post": HookPoint(down, INPUT),
        "hook_mlp_out": HookPoint(mlp_out or down),
    }


def residual_mid(norm: str) -> dict[str, HookPoint]:
    """``hook_resid_mid`` read at the input of the norm in front of the MLP (``norm``)."""
    return {"hook_resid_mid": HookPoint(norm, INPUT, read_only=True)}


def normalized(x: torch.Tensor, eps: float, centred: bool) -> torch.Tensor:
    """``x`` normalized over its last axis without weight or bias, computed in float32:
    ``(x - mean) / sqrt(var + eps)`` when ``centred`` (LayerNorm), else ``x / sqrt(mean(x²) + eps)`` (RMSNorm)."""
    value = x.float()
    if centred:
        value = value - value.mean(-1, keepdim=True)
    return (value * torch.rsqrt(value.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


class Adapter:
    """What the workflow needs to know about one architecture family (subclasses fill it in)."""

    family: str
    model_types: tuple[str, ...]
    blocks_path: str
    final_norm_path: str
    hook_points: dict[str, HookPoint]
    gated_mlp = False
    centred_norm = False  # LayerNorm (True) or RMSNorm (False)
    attention_norm_path = "input_layernorm"  # the norm in front of the attention, inside a block
    mlp_norm_path = "post_attention_layernorm"  # the norm in front of the MLP, inside a block

    def blocks(self, model: nn.Module) -> nn.ModuleList:
        return model.get_submodule(self.blocks_path)

    def final_norm(self, model: nn.Module) -> nn.Module:
        return model.get_submodule(self.final_norm_path)

    def final_norm_scale(self, model: nn.Module) -> torch.Tensor:
        """``(d_model,)``: what the final norm multiplies the normalized vector by (its weight)."""
        return self.norm_scale(self.final_norm(model))

    def norm_scale(self, norm: nn.Module) -> torch.Tensor:
        """``(d_model,)``: what one of the family's norms multiplies the normalized vector by (its weight)."""
        return norm.weight

    def mlp_reads_attention(self, block: nn.Module) -> bool:
        """Whether the block's MLP reads its attention's update (sequential blocks), or only the block's input."""
        return True

    def block_hook_point(self, block: nn.Module, hook: str) -> HookPoint:
        """Where ``hook`` (an in-block hook other than the block's input and output) is read."""
        return self.hook_points[hook]

    def site_access(self, model: nn.Module, site: Site) -> SiteAccess:
        """How ``site`` is read (and written) in ``model``; ``ValueError`` for a block out of range or a
        site the family does not have."""
        if site.hook == FINAL_OUTPUT:
            return SiteAccess(self.final_norm(model), OUTPUT)
        if site.hook == FINAL_NORMALIZED:
            norm = self.final_norm(model)
            eps = norm.eps if hasattr(norm, "eps") else norm.variance_epsilon
            return SiteAccess(norm, INPUT, derive=lambda x: normalized(x, eps, self.centred_norm))
        blocks = self.blocks(model)
        if not 0 <= site.layer < len(blocks):
            raise ValueError(f"site {site.name!r} is out of range: the model has blocks 0..{len(blocks) - 1}")
        block = blocks[site.layer]
        if site.hook == "hook_resid_pre":
            return SiteAccess(block, INPUT)
        if site.hook == "hook_resid_post":
            return SiteAccess(block, OUTPUT)
        point = self.block_hook_point(block, site.hook)
        module = block.get_submodule(point.module)
        heads = Heads.of(model.config)
        view = None if point.view is None else (lambda raw, view=point.view: view(raw, heads))
        return SiteAccess(
            module,
            point.side,
            element=point.element,
            view=view,
            read_only=point.read_only,
            attention=module if site.hook == "attn.hook_pattern" else None,
        )

    def unembed(self, model: nn.Module, normed: torch.Tensor) -> torch.Tensor:
        """Logits from the final norm's output ``(batch, tokens, d_model)``."""
        return model.get_output_embeddings()(normed)

    def n_layer(self, config) -> int:
        return config.num_hidden_layers

    def mlp_out(self, block: nn.Module, hook: str, value: torch.Tensor, mlp_input: torch.Tensor | None) -> torch.Tensor:
        """The MLP's update of the residual stream when its ``hook`` site holds ``value``.

        ``mlp_input``: the MLP's (normed) input, needed by gated MLPs whose up projection is not
        cached; ``None`` when the MLP is not gated.
        """
        down_module = block.get_submodule(self.hook_points["mlp.hook_post"].module)
        if hook == "mlp.hook_pre":
            post = self.activation(block)(value)
            if self.gated_mlp:
                post = post * block.mlp.up_proj(mlp_input)
            value = post
        return down_module(value)

    def activation(self, block: nn.Module):
        raise NotImplementedError

    def mlp_input(self, block: nn.Module, resid_pre: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor | None:
        """The MLP's normed input, recomputed from the cached residual and attention update (gated MLPs only)."""
        return None

    def finish_block(
        self, block: nn.Module, resid_pre: torch.Tensor, attn_out: torch.Tensor, hook: str, value: torch.Tensor
    ) -> torch.Tensor:
        """``hook_resid_post`` of ``block`` from its cached ``hook_resid_pre`` and ``hook_attn_out``,
        with the MLP neuron site ``hook`` replaced by ``value`` (all ``(..., tokens, width)``)."""
        mid = resid_pre + attn_out
        return mid + self.mlp_out(block, hook, value, self.mlp_input(block, resid_pre, attn_out))

    def embedded_config(self, spec: dict[str, Any], vocab_size: int, eos_token_id: int):
        raise NotImplementedError


class Gpt2(Adapter):
    family = "gpt2"
    model_types = MODEL_TYPES[family]
    blocks_path = "transformer.h"
    final_norm_path = "transformer.ln_f"
    centred_norm = True
    attention_norm_path = "ln_1"
    mlp_norm_path = "ln_2"
    hook_points = (
        attention_hook_points(
            "attn",
            *(HookPoint("attn.c_attn", view=fused_third(index)) for index in range(3)),
            output="attn.c_proj",
        )
        | mlp_hook_points("attn.c_proj", "mlp.c_fc", "mlp.c_proj")
        | residual_mid("ln_2")
    )

    def n_layer(self, config) -> int:
        return config.n_layer

    def activation(self, block):
        return block.mlp.act

    def embedded_config(self, spec, vocab_size, eos_token_id):
        from transformers import GPT2Config

        return GPT2Config(
            vocab_size=vocab_size,
            n_positions=spec["n_positions"],
            n_embd=spec["n_embd"],
            n_layer=spec["n_layer"],
            n_head=spec["n_head"],
            bos_token_id=eos_token_id,
            eos_token_id=eos_token_id,
        )


class GptNeoX(Adapter):
    """Pythia and other GPT-NeoX models; with ``use_parallel_residual`` attention and MLP both read
    the block's input, so there is no mid-block residual: ``resid_post = resid_pre + attn_out + mlp_out``."""

    family = "gpt_neox"
    model_types = MODEL_TYPES[family]
    blocks_path = "gpt_neox.layers"
    final_norm_path = "gpt_neox.final_layer_norm"
    centred_norm = True
    hook_points = attention_hook_points(
        "attention",
        *(HookPoint("attention.query_key_value", view=interleaved_third(index)) for index in range(3)),
        output="attention.dense",
    ) | mlp_hook_points("attention.dense", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")

    def block_hook_point(self, block, hook):
        if hook != "hook_resid_mid":
            return super().block_hook_point(block, hook)
        if block.use_parallel_residual:
            raise ValueError(
                "GPT-NeoX blocks with a parallel residual (use_parallel_residual: true, as in every Pythia model) "
                "have no hook_resid_mid: attention and MLP both read the block's input; use hook_resid_pre, "
                "hook_attn_out or hook_mlp_out"
            )
        return residual_mid("post_attention_layernorm")["hook_resid_mid"]

    def activation(self, block):
        return block.mlp.act

    def mlp_reads_attention(self, block):
        return not block.use_parallel_residual

    def finish_block(self, block, resid_pre, attn_out, hook, value):
        mlp_out = self.mlp_out(block, hook, value, None)
        if block.use_parallel_residual:
            return mlp_out + attn_out + resid_pre  # the order of GPTNeoXLayer's sum
        return mlp_out + (attn_out + resid_pre)

    def embedded_config(self, spec, vocab_size, eos_token_id):
        from transformers import GPTNeoXConfig

        return GPTNeoXConfig(
            vocab_size=vocab_size,
            hidden_size=spec["n_embd"],
            num_hidden_layers=spec["n_layer"],
            num_attention_heads=spec["n_head"],
            intermediate_size=4 * spec["n_embd"],
            max_position_embeddings=spec["n_positions"],
            rotary_pct=0.25,
            use_parallel_residual=True,
            bos_token_id=eos_token_id,
            eos_token_id=eos_token_id,
        )


class Llama(Adapter):
    """Llama, Mistral and Qwen2: RMSNorm, rotary positions, gated MLP ``down(act(gate(x)) * up(x))``."""

    family = "llama"
    model_types = MODEL_TYPES[family]
    blocks_path = "model.layers"
    final_norm_path = "model.norm"
    gated_mlp = True
    hook_points = (
        attention_hook_points("self_attn", *separate_projections("self_attn"), output="self_attn.o_proj")
        | mlp_hook_points("self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj")
        | residual_mid("post_attention_layernorm")
    )

    def activation(self, block):
        return block.mlp.act_fn

    def mlp_input(self, block, resid_pre, attn_out):
        return block.post_attention_layernorm(resid_pre + attn_out)

    def decoder_config_values(self, spec, vocab_size, eos_token_id) -> dict[str, Any]:
        """The config values Llama-style families share (GQA heads default to half the query heads)."""
        return {
            "vocab_size": vocab_size,
            "hidden_size": spec["n_embd"],
            "intermediate_size": spec.get("d_mlp") or 4 * spec["n_embd"],
            "num_hidden_layers": spec["n_layer"],
            "num_attention_heads": spec["n_head"],
            "num_key_value_heads": spec.get("n_kv_head") or max(1, spec["n_head"] // 2),
            "max_position_embeddings": spec["n_positions"],
            "bos_token_id": eos_token_id,
            "eos_token_id": eos_token_id,
        }

    def embedded_config(self, spec, vocab_size, eos_token_id):
        from transformers import LlamaConfig

        return LlamaConfig(**self.decoder_config_values(spec, vocab_size, eos_token_id), tie_word_embeddings=True)


class Gemma2(Llama):
    """Gemma 2: norms after attention and after the MLP (the updates are read after them, so the
    residual identity holds), embeddings scaled by sqrt(d_model), soft-capped logits, and
    alternating sliding-window and global attention."""

    family = "gemma2"
    model_types = MODEL_TYPES[family]
    mlp_norm_path = "pre_feedforward_layernorm"
    hook_points = (
        attention_hook_points("self_attn", *separate_projections("self_attn"), output="self_attn.o_proj")
        | mlp_hook_points(
            "post_attention_layernorm", "mlp.gate_proj", "mlp.down_proj", mlp_out="post_feedforward_layernorm"
        )
        | residual_mid("pre_feedforward_layernorm")
    )

    def mlp_input(self, block, resid_pre, attn_out):
        return block.pre_feedforward_layernorm(resid_pre + attn_out)

    def mlp_out(self, block, hook, value, mlp_input):
        return block.post_feedforward_layernorm(super().mlp_out(block, hook, value, mlp_input))

    def norm_scale(self, norm):
        return norm.weight + 1  # Gemma's RMSNorm multiplies by 1 + weight

    def unembed(self, model, normed):
        logits = model.get_output_embeddings()(normed)
        cap = model.config.final_logit_softcapping
        return logits if cap is None else torch.tanh(logits / cap) * cap

    def embedded_config(self, spec, vocab_size, eos_token_id):
        from transformers import Gemma2Config

        head_dim = spec["n_embd"] // spec["n_head"]
        return Gemma2Config(
            **self.decoder_config_values(spec, vocab_size, eos_token_id),
            head_dim=head_dim,
            query_pre_attn_scalar=head_dim,
            sliding_window=spec.get("sliding_window") or spec["n_positions"],
            pad_token_id=eos_token_id,
        )


ADAPTERS: dict[str, Adapter] = {}
for _adapter in (Gpt2(), GptNeoX(), Llama(), Gemma2()):
    ADAPTERS.update(dict.fromkeys(_adapter.model_types, _adapter))
FAMILIES = {adapter.family: adapter for adapter in ADAPTERS.values()}


class UnsupportedArchitectureError(ValueError):
    """A model whose ``model_type`` no adapter covers."""


def adapter_for(model_type: str) -> Adapter:
    """The adapter of a Hugging Face ``config.model_type``; raises naming the supported types."""
    try:
        return ADAPTERS[model_type]
    except KeyError:
        raise UnsupportedArchitectureError(
            f"model_type {model_type!r} has no adapter; supported: {supported_model_types()}"
        ) from None


def adapter_of(model: nn.Module) -> Adapter:
    return adapter_for(model.config.model_type)

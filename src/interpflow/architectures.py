"""One adapter per decoder-only architecture family: the only code that knows module paths and
block internals. Everything else speaks in site names (:mod:`interpflow.sites`).

An adapter says, for one family of Hugging Face causal language models,

- where each block hook is read: a module of the block and whether its output or its input;
- how to finish a block's MLP from cached values with one neuron site replaced (the cached
  intervention engine, :mod:`interpflow.interventions`), and how logits come from the final norm;
- how to build a tiny random model of the family for offline runs (the embedded models).

``hook_resid_pre`` and ``hook_resid_post`` are every family's block input and output, and
``ln_final.hook_normalized`` its final norm's output (``ln_f``, ``final_layer_norm``, ``norm``). The
other hooks are read at these modules of block L (out: output, in: input):

=================  ================  =====================  =====================  ==============================
site               GPT-2 (``gpt2``)  Pythia (``gpt_neox``)  Llama, Mistral, Qwen2  Gemma 2 (``gemma2``)
=================  ================  =====================  =====================  ==============================
``hook_attn_out``  attn.c_proj out   attention.dense out    self_attn.o_proj out   post_attention_layernorm out
``mlp.hook_pre``   mlp.c_fc out      mlp.dense_h_to_4h out  mlp.gate_proj out      mlp.gate_proj out
``mlp.hook_post``  mlp.c_proj in     mlp.dense_4h_to_h in   mlp.down_proj in       mlp.down_proj in
``hook_mlp_out``   mlp.c_proj out    mlp.dense_4h_to_h out  mlp.down_proj out      post_feedforward_layernorm out
=================  ================  =====================  =====================  ==============================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

OUTPUT, INPUT = "output", "input"


@dataclass(frozen=True)
class HookPoint:
    """Where a block hook is read: ``module`` (a path inside the block) and its ``output`` or ``input``."""

    module: str
    side: str = OUTPUT


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


class Adapter:
    """What the workflow needs to know about one architecture family (subclasses fill it in)."""

    family: str
    model_types: tuple[str, ...]
    blocks_path: str
    final_norm_path: str
    hook_points: dict[str, HookPoint]
    gated_mlp = False

    def blocks(self, model: nn.Module) -> nn.ModuleList:
        return model.get_submodule(self.blocks_path)

    def final_norm(self, model: nn.Module) -> nn.Module:
        return model.get_submodule(self.final_norm_path)

    def hook_point(self, block: nn.Module, hook: str) -> tuple[nn.Module, str]:
        """``(module, side)`` where ``hook`` (an MLP or attention hook) is read in ``block``."""
        point = self.hook_points[hook]
        return block.get_submodule(point.module), point.side

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
        down_module, _ = self.hook_point(block, "mlp.hook_post")
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
    model_types = ("gpt2",)
    blocks_path = "transformer.h"
    final_norm_path = "transformer.ln_f"
    hook_points = mlp_hook_points("attn.c_proj", "mlp.c_fc", "mlp.c_proj")

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
    model_types = ("gpt_neox",)
    blocks_path = "gpt_neox.layers"
    final_norm_path = "gpt_neox.final_layer_norm"
    hook_points = mlp_hook_points("attention.dense", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")

    def activation(self, block):
        return block.mlp.act

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
    model_types = ("llama", "mistral", "qwen2")
    blocks_path = "model.layers"
    final_norm_path = "model.norm"
    gated_mlp = True
    hook_points = mlp_hook_points("self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj")

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
    model_types = ("gemma2",)
    hook_points = mlp_hook_points(
        "post_attention_layernorm", "mlp.gate_proj", "mlp.down_proj", mlp_out="post_feedforward_layernorm"
    )

    def mlp_input(self, block, resid_pre, attn_out):
        return block.pre_feedforward_layernorm(resid_pre + attn_out)

    def mlp_out(self, block, hook, value, mlp_input):
        return block.post_feedforward_layernorm(super().mlp_out(block, hook, value, mlp_input))

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


def supported_model_types() -> str:
    return ", ".join(sorted(ADAPTERS))


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

"""Names of activation sites: one vocabulary for every model family.

A name that contains ``hook_`` is a TransformerLens hook name and holds what TransformerLens 3.x's
``HookedTransformer`` records there (weights converted with its ``convert_*_weights``, no weight
processing), checked site by site in ``tests/unit/test_transformer_lens.py``. ``ln_final.output`` is
interpflow's own name: TransformerLens has no hook on the final norm's output.
:mod:`interpflow.models.architectures` says where each site is read in each family's modules.

Every captured or stored tensor keeps the token axis first: ``(batch, tokens, *shape)`` from a hook,
``(n_tokens, *shape)`` in an activation store, with ``shape`` per token as below (``H`` query heads,
``H_kv`` key-value heads, ``d_head`` their width, ``K`` key positions):

================================  =================================================================  ==================
name                              what it holds (block ``L``)                                        shape
================================  =================================================================  ==================
``blocks.{L}.hook_resid_pre``     residual stream entering the block (block 0: the embeddings,       ``(d_model,)``
                                  scaled by sqrt(d_model) in Gemma 2)
``blocks.{L}.attn.hook_q``        queries per head, biases added, before rotary embeddings           ``(H, d_head)``
``blocks.{L}.attn.hook_k``        keys per key-value head, before rotary embeddings                  ``(H_kv, d_head)``
``blocks.{L}.attn.hook_v``        values per key-value head                                          ``(H_kv, d_head)``
``blocks.{L}.attn.hook_pattern``  attention probabilities after softmax, per head, to every key      ``(H, K)``
                                  position (0 for keys after the query and for padding)
``blocks.{L}.attn.hook_z``        per-head attention output, the input of the output projection      ``(H, d_head)``
``blocks.{L}.hook_attn_out``      attention's update of the residual (Gemma 2: after its post-norm)  ``(d_model,)``
``blocks.{L}.hook_resid_mid``     residual stream between attention and MLP (sequential residual     ``(d_model,)``
                                  only: GPT-2, Llama, Gemma 2; not GPT-NeoX's parallel residual)
``blocks.{L}.mlp.hook_pre``       MLP neurons before the activation function (gated MLPs: the gate)  ``(d_mlp,)``
``blocks.{L}.mlp.hook_post``      input of the MLP's output projection (after activation and gate)   ``(d_mlp,)``
``blocks.{L}.hook_mlp_out``       the MLP's update of the residual (Gemma 2: after its post-norm)    ``(d_model,)``
``blocks.{L}.hook_resid_post``    residual stream leaving the block (= ``hook_resid_pre`` of L + 1)  ``(d_model,)``
``ln_final.hook_normalized``      the last residual normalized, before the final norm's weight and   ``(d_model,)``
                                  bias: ``(x - mean) / sqrt(var + eps)`` (LayerNorm) or
                                  ``x / sqrt(mean(x²) + eps)`` (RMSNorm)
``ln_final.output``               the final norm's output, what the unembedding reads (Hugging       ``(d_model,)``
                                  Face's last ``hidden_states``)
================================  =================================================================  ==================

``attn.hook_pattern`` is TransformerLens's ``(batch, head, query, key)`` with the token (query) axis
moved second, ``(batch, query, head, key)``, like every other site; in a text set's store the key
axis spans the longest text. Grouped-query models (Llama 3, Mistral, Qwen2, Gemma 2) have fewer
key-value heads than query heads.

Where TransformerLens versions differ: 2.x recorded a LayerNorm's ``hook_normalized`` (GPT-2,
GPT-NeoX) after the norm's weight and bias, 3.x before them (RMSNorm's before its weight in both);
with ``from_pretrained``'s default ``fold_ln=True`` the weights are folded into the next layer and
the two coincide. TransformerLens 3's ``TransformerBridge`` names the final norm's output
``ln_final.hook_out``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ATTENTION_HOOKS = ("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_pattern", "attn.hook_z")
BLOCK_HOOKS = (  # in the order a forward pass reaches them
    "hook_resid_pre",
    *ATTENTION_HOOKS,
    "hook_attn_out",
    "hook_resid_mid",
    "mlp.hook_pre",
    "mlp.hook_post",
    "hook_mlp_out",
    "hook_resid_post",
)
NEURON_HOOKS = ("mlp.hook_pre", "mlp.hook_post")
PER_HEAD_HOOKS = ("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z")
FINAL_NORMALIZED = "ln_final.hook_normalized"
FINAL_OUTPUT = "ln_final.output"
FINAL_SITES = (FINAL_NORMALIZED, FINAL_OUTPUT)
_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(" + "|".join(re.escape(hook) for hook in BLOCK_HOOKS) + r")$")


@dataclass(frozen=True)
class Site:
    """A parsed site name: ``hook`` and the block ``layer`` (``None`` for the final norm's sites)."""

    hook: str
    layer: int | None = None

    @property
    def name(self) -> str:
        return self.hook if self.layer is None else f"blocks.{self.layer}.{self.hook}"

    @property
    def order(self) -> tuple[int, int]:
        """Where the site is read in a forward pass: by block, then by hook within the block."""
        if self.layer is None:
            return (1 << 30, FINAL_SITES.index(self.hook))
        return (self.layer, BLOCK_HOOKS.index(self.hook))

    @property
    def is_vector(self) -> bool:
        """One vector per token (``d_model`` or ``d_mlp`` wide), not per head."""
        return self.hook not in ATTENTION_HOOKS


def parse_site(name: str) -> Site:
    """Parse a site name; raise ``ValueError`` naming the accepted forms."""
    if match := _BLOCK_RE.match(name):
        return Site(match.group(2), int(match.group(1)))
    if name in FINAL_SITES:
        return Site(name)
    raise ValueError(
        f"unknown activation site {name!r}: expected 'blocks.<L>.<{'|'.join(BLOCK_HOOKS)}>' "
        f"or one of {', '.join(FINAL_SITES)}"
    )


def block_site(layer: int, hook: str) -> str:
    """Name of ``hook`` (one of :data:`BLOCK_HOOKS`) in block ``layer``."""
    if hook not in BLOCK_HOOKS:
        raise ValueError(f"unknown hook {hook!r}; expected one of {BLOCK_HOOKS}")
    return Site(hook, layer).name


def residual_stream(index: int, n_layer: int) -> str:
    """The residual stream entering block ``index``; ``index == n_layer`` is the final norm's output.

    This is the indexing of Hugging Face's ``output.hidden_states``, whose last entry is normed.
    """
    if not 0 <= index <= n_layer:
        raise ValueError(f"residual stream index {index} outside 0..{n_layer}")
    return FINAL_OUTPUT if index == n_layer else block_site(index, "hook_resid_pre")


def residual_streams(n_layer: int) -> list[str]:
    """``hook_resid_pre`` of every block, then the final norm's output: ``n_layer + 1`` sites."""
    return [residual_stream(index, n_layer) for index in range(n_layer + 1)]


def sort_sites(names) -> list[str]:
    """Unique site names in the order a forward pass reaches them."""
    return [site.name for site in sorted({parse_site(name) for name in names}, key=lambda site: site.order)]

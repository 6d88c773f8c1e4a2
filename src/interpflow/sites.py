"""Names of activation sites: TransformerLens's hook names, one vocabulary for every model family.

Every site has one string name, used in configs, activation stores, tables, figures and docs;
:mod:`interpflow.architectures` says where each one is read in each family's modules.

==============================  ==================================================================  ==========
name                            what it is                                                          width
==============================  ==================================================================  ==========
``blocks.{L}.hook_resid_pre``   residual stream entering block L (block 0: the scaled embeddings)    d_model
``blocks.{L}.hook_attn_out``    attention's update of the residual stream in block L                d_model
``blocks.{L}.mlp.hook_pre``     MLP neurons before the activation function (gated MLPs: the gate)   d_mlp
``blocks.{L}.mlp.hook_post``    input of the MLP's output projection (after activation and gate)    d_mlp
``blocks.{L}.hook_mlp_out``     the MLP's update of the residual stream in block L                  d_model
``blocks.{L}.hook_resid_post``  residual stream leaving block L (= ``hook_resid_pre`` of L + 1)      d_model
``ln_final.hook_normalized``    the final norm's output (what the unembedding reads)                d_model
==============================  ==================================================================  ==========
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BLOCK_HOOKS = (
    "hook_resid_pre",
    "hook_attn_out",
    "mlp.hook_pre",
    "mlp.hook_post",
    "hook_mlp_out",
    "hook_resid_post",
)
NEURON_HOOKS = ("mlp.hook_pre", "mlp.hook_post")
FINAL_NORM = "ln_final.hook_normalized"
_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(" + "|".join(re.escape(hook) for hook in BLOCK_HOOKS) + r")$")


@dataclass(frozen=True)
class Site:
    """A parsed site name: ``hook`` and the block ``layer`` (``None`` for the final norm)."""

    hook: str
    layer: int | None = None

    @property
    def name(self) -> str:
        return self.hook if self.layer is None else f"blocks.{self.layer}.{self.hook}"

    @property
    def order(self) -> tuple[int, int]:
        """Where the site is read in a forward pass: by block, then by hook within the block."""
        if self.layer is None:
            return (1 << 30, 0)
        return (self.layer, BLOCK_HOOKS.index(self.hook))


def parse_site(name: str) -> Site:
    """Parse a site name; raise ``ValueError`` naming the accepted forms."""
    if match := _BLOCK_RE.match(name):
        return Site(match.group(2), int(match.group(1)))
    if name == FINAL_NORM:
        return Site(FINAL_NORM)
    raise ValueError(
        f"unknown activation site {name!r}: expected 'blocks.<L>.<{'|'.join(BLOCK_HOOKS)}>' or {FINAL_NORM!r}"
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
    return FINAL_NORM if index == n_layer else block_site(index, "hook_resid_pre")


def residual_streams(n_layer: int) -> list[str]:
    """``hook_resid_pre`` of every block, then the final norm's output: ``n_layer + 1`` sites."""
    return [residual_stream(index, n_layer) for index in range(n_layer + 1)]


def sort_sites(names) -> list[str]:
    """Unique site names in the order a forward pass reaches them."""
    return [site.name for site in sorted({parse_site(name) for name in names}, key=lambda site: site.order)]

"""Stable names for the activation sites that interpflow hooks or reads.

Every site has one string name, used in configs, activation stores, tables and docs:

==========================  ===========================================================  ==============
name                        what it is (Hugging Face GPT-2 module or output)             width
==========================  ===========================================================  ==============
``hidden_states.{i}``       ``output.hidden_states[i]``: residual stream before block i  ``n_embd``
                            (``i = n_layer`` is the final residual *after* ``ln_f``)
``h.{L}.attn.c_proj``       output of ``transformer.h[L].attn.c_proj`` (attention delta)  ``n_embd``
``h.{L}.mlp.c_fc``          output of ``transformer.h[L].mlp.c_fc`` (pre-GELU neurons)    ``4 * n_embd``
``h.{L}.mlp.c_proj``        output of ``transformer.h[L].mlp.c_proj`` (MLP delta)         ``n_embd``
==========================  ===========================================================  ==============
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MODULE_SITES = ("attn.c_proj", "mlp.c_fc", "mlp.c_proj")
_MODULE_RE = re.compile(r"^h\.(\d+)\.(attn\.c_proj|mlp\.c_fc|mlp\.c_proj)$")
_HIDDEN_RE = re.compile(r"^hidden_states\.(\d+)$")


@dataclass(frozen=True, order=True)
class Site:
    """A parsed site name: ``layer`` and ``module`` (``None`` for a hidden state)."""

    layer: int
    module: str | None = None

    @property
    def name(self) -> str:
        if self.module is None:
            return f"hidden_states.{self.layer}"
        return f"h.{self.layer}.{self.module}"

    @property
    def is_hidden_state(self) -> bool:
        return self.module is None


def parse_site(name: str) -> Site:
    """Parse a site name; raise ``ValueError`` naming the accepted forms."""
    if match := _MODULE_RE.match(name):
        return Site(int(match.group(1)), match.group(2))
    if match := _HIDDEN_RE.match(name):
        return Site(int(match.group(1)))
    raise ValueError(
        f"unknown activation site {name!r}: expected 'hidden_states.<i>' or 'h.<layer>.<{'|'.join(MODULE_SITES)}>'"
    )


def hidden_state(index: int) -> str:
    """Name of ``hidden_states[index]``."""
    return Site(index).name


def module_output(layer: int, module: str) -> str:
    """Name of the output of ``transformer.h[layer].<module>``."""
    if module not in MODULE_SITES:
        raise ValueError(f"unknown module {module!r}; expected one of {MODULE_SITES}")
    return Site(layer, module).name


def sort_sites(names) -> list[str]:
    """Unique site names in a stable order (hidden states first, then by layer and module)."""
    return [s.name for s in sorted({parse_site(n) for n in names}, key=lambda s: (s.module is not None, s))]

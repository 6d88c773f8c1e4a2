"""A model's widths from its ``config.json`` values (no torch): what a site holds per token."""

from __future__ import annotations

from typing import Any

from interpflow.models.sites import NEURON_HOOKS, parse_site


def model_widths(values: dict[str, Any]) -> tuple[int, int]:
    """``(d_model, d_mlp)`` from a Hugging Face ``config.json`` (GPT-2's names or the common ones)."""
    d_model = values.get("n_embd") or values["hidden_size"]
    return d_model, values.get("n_inner") or values.get("intermediate_size") or 4 * d_model


def site_width(widths: tuple[int, int], site: str) -> int:
    """Values per token at a vector ``site`` of a model of ``widths``: ``d_mlp`` for MLP neurons, else ``d_model``."""
    return widths[1] if parse_site(site).hook in NEURON_HOOKS else widths[0]

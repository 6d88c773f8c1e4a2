"""A circuit method's model stage: its model, the clean prompts' store and its prompt pairs, from the rule."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from interpflow.models.devices import resolve_device
from interpflow.models.loading import load_model
from interpflow.stores.activation_store import load_store

# model, tokenizer, clean prompts' store, pairs table path, clean text column, instance options -> tables
PairMethod = Callable[..., dict[str, pd.DataFrame]]


def run_on_pairs(snakemake, method: PairMethod) -> dict[str, pd.DataFrame]:
    """``method``'s tables on the rule's inputs (``model``, ``tensors``, ``tokens``, ``pairs``) and params
    (``options``, ``text_options``, ``n_layer``, ``model_dtype``, ``device``): what every circuit rule declares."""
    params = snakemake.params
    model, tokenizer = load_model(
        snakemake.input.model, resolve_device(params.device), n_layer=params.n_layer, dtype=params.model_dtype
    )
    store = load_store(snakemake.input.tensors, snakemake.input.tokens)
    return method(model, tokenizer, store, snakemake.input.pairs, params.text_options["text_column"], params.options)

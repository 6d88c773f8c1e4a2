"""streaming_sae: sparse autoencoders trained on a corpus's sharded activation store.

An instance reads a corpus (``corpora`` section), not a text set: its store holds every site
that the instances on that corpus and model need, so several SAEs (sites, sizes, k) share one
extraction. Training, evaluation and interpretation are :mod:`interpflow.streaming_sae` and
:mod:`interpflow.sae_interpretation`; this module says what to extract and checks an instance.
"""

from __future__ import annotations

import pandas as pd

from interpflow.comparison import Run, stack_runs
from interpflow.errors import ConfigError
from interpflow.layers import resolve_layer
from interpflow.sites import block_site

INPUT = "corpus"  # instances name a corpus, not a text set
COMPARISON_COLUMNS = ["instance", "model", "n_layer", "step", "tokens", "fvu", "l0", "dead_fraction", "heldout_fvu"]


def sae_site(instance: dict, n_layer: int) -> str:
    """``blocks.<layer>.<site>``, the site the SAE reads."""
    return block_site(resolve_layer(instance["layer"], n_layer), instance["site"])


def configured_layers(instance: dict, n_layer: int) -> list[tuple[str, int | str]]:
    return [("layer", instance["layer"])]


def required_sites(instance: dict, n_layer: int) -> list[str]:
    return [sae_site(instance, n_layer)]


def check_instance(instance: dict, key: str, corpus: dict) -> None:
    """What the schema cannot check of an instance against its corpus."""
    if instance["sae"]["heldout_shards"] >= corpus["n_shards"]:
        raise ConfigError(
            f"{key}.sae.heldout_shards",
            f"{instance['sae']['heldout_shards']} held-out shard(s) leave none of corpus "
            f"'{instance['corpus']}''s {corpus['n_shards']} shards for training; lower it or raise n_shards",
        )
    sae = instance["sae"]
    if sae["token_budget"] < sae["batch_tokens"]:
        raise ConfigError(
            f"{key}.sae.token_budget",
            f"{sae['token_budget']} tokens are less than one minibatch of {sae['batch_tokens']}: training would "
            "take no step; raise token_budget or lower batch_tokens",
        )
    if sae["buffer_tokens"] < max(sae["batch_tokens"], corpus["context_size"]):
        raise ConfigError(
            f"{key}.sae.buffer_tokens",
            f"{sae['buffer_tokens']} tokens cannot fill a minibatch of {sae['batch_tokens']} tokens from whole "
            f"windows of {corpus['context_size']}; make it at least batch_tokens + context_size",
        )


def comparison_table(
    training_logs: list[pd.DataFrame], evaluations: list[pd.DataFrame], runs: list[Run]
) -> pd.DataFrame:
    """``comparison.parquet``: every run's training curve, one row per logged step, with the run's
    held-out FVU (``heldout_fvu``, the same on each of its rows)."""
    logs = [
        log[["step", "tokens", "fvu", "l0", "dead_fraction"]].assign(heldout_fvu=float(evaluation["fvu"].iloc[0]))
        for log, evaluation in zip(training_logs, evaluations, strict=True)
    ]
    return stack_runs(logs, runs)[COMPARISON_COLUMNS]

"""SAE training on a sharded corpus store, a minibatch at a time, with resume.

**Data order.** The training shards are all but the last ``heldout_shards``. Each epoch visits
their windows in a random order (seeded by ``seed`` and the epoch); a *fill* of the shuffle buffer
takes the next ``buffer_tokens // context_size`` windows, drops their BOS positions, shuffles the
tokens (seeded by ``seed``, epoch and fill) and yields minibatches of ``batch_tokens`` (the tokens
short of a full minibatch are left out). Training stops after ``token_budget`` tokens. The
minibatch of every step is a function of the config alone, so a run resumed from a checkpoint
sees the same minibatches as an uninterrupted one and ends with the same weights.

**Checkpoints** (every ``checkpoint_every`` steps; :func:`interpflow.sae.core.training.save_checkpoint`)
are saved under a fingerprint of everything that defines the run; a checkpoint of a different run
is never resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from interpflow.runtime.schema import option_defaults
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.training import (
    TrainingState,
    load_checkpoint,
    log_table,
    new_state,
    save_checkpoint,
    train_steps,
)
from interpflow.stores.corpus_store import CorpusStore

log = logging.getLogger(__name__)

DEFAULTS = option_defaults("streaming_sae.sae")  # the schema's, the one place defaults live

# Options of `streaming_sae.sae` that say how the trained SAE is evaluated, not what is trained.
EVALUATION_OPTIONS = ("spliced_batch_tokens", "exclude_special_tokens_from_reconstruction")

# Part of every checkpoint's fingerprint: raise it when what a checkpoint holds changes.
CHECKPOINT_FORMAT = 3


@dataclass(frozen=True)
class StreamingSchedule:
    """How a corpus store's tokens reach the trainer (module docstring). Options left out take the
    defaults of ``streaming_sae.sae`` in the configuration schema."""

    batch_tokens: int = DEFAULTS["batch_tokens"]
    buffer_tokens: int = DEFAULTS["buffer_tokens"]
    token_budget: int = DEFAULTS["token_budget"]
    heldout_shards: int = DEFAULTS["heldout_shards"]
    dead_after_tokens: int = DEFAULTS["dead_after_tokens"]
    log_every: int = DEFAULTS["log_every"]
    checkpoint_every: int = DEFAULTS["checkpoint_every"]
    dtype: str = DEFAULTS["dtype"]  # what the steps compute their products in (training.autocast)

    @property
    def steps(self) -> int:
        return self.token_budget // self.batch_tokens

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def streaming_configs(site: str, input_dim: int, options: dict) -> tuple[SAEConfig, StreamingSchedule]:
    """The SAE and its schedule from a ``streaming_sae`` instance's ``sae`` options (schema defaults filled)."""
    schedule_keys = {field.name for field in dataclasses.fields(StreamingSchedule)}
    other = {"latent_factor", *EVALUATION_OPTIONS}
    sae = {key: value for key, value in options.items() if key not in schedule_keys and key not in other}
    config = SAEConfig(site=site, input_dim=input_dim, latent_dim=options["latent_factor"] * input_dim, **sae)
    return config, StreamingSchedule(**{key: options[key] for key in schedule_keys if key in options})


# --- data order ---------------------------------------------------------------------------------
def training_shards(store: CorpusStore, heldout_shards: int) -> list[int]:
    if not 0 < heldout_shards < store.n_shards:
        raise ValueError(
            f"heldout_shards {heldout_shards}: the store has {store.n_shards} shards; keep at least one for training"
        )
    return list(range(store.n_shards - heldout_shards))


def heldout_shards(store: CorpusStore, heldout: int) -> list[int]:
    return list(range(store.n_shards - heldout, store.n_shards))


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(keys)))


def token_rows(activations: torch.Tensor, prepend_bos: bool) -> torch.Tensor:
    """``(windows, context, width)`` -> ``(tokens, width)``, BOS positions dropped."""
    return activations[:, int(prepend_bos) :].reshape(-1, activations.shape[-1])


def minibatches(
    store: CorpusStore, config: SAEConfig, schedule: StreamingSchedule, start_step: int = 0
) -> Iterator[torch.Tensor]:
    """The minibatches of steps ``start_step, start_step + 1, ...`` (module docstring), forever
    (the caller stops at the token budget). Fills before ``start_step`` are skipped unread."""
    shards = training_shards(store, schedule.heldout_shards)
    windows = np.concatenate([np.stack([np.full(store.windows(s), s), np.arange(store.windows(s))], 1) for s in shards])
    per_window = store.context_size - int(store.prepend_bos)
    fill_windows = max(schedule.buffer_tokens // store.context_size, 1)
    largest_fill = min(fill_windows, len(windows)) * per_window
    if largest_fill < schedule.batch_tokens:
        raise ValueError(
            f"a fill of the shuffle buffer holds {largest_fill} tokens, fewer than one minibatch "
            f"({schedule.batch_tokens}); raise sae.buffer_tokens or lower sae.batch_tokens "
            f"(the training shards hold {len(windows) * per_window} tokens)"
        )
    step, epoch = 0, 0
    while True:
        order = windows[_rng(config.seed, epoch).permutation(len(windows))]
        for fill, start in enumerate(range(0, len(order), fill_windows)):
            chosen = order[start : start + fill_windows]
            n_batches = len(chosen) * per_window // schedule.batch_tokens
            if n_batches == 0:
                continue
            if step + n_batches <= start_step:
                step += n_batches
                continue
            tokens = torch.cat(
                [
                    token_rows(
                        store.activations(config.site, int(shard), chosen[chosen[:, 0] == shard, 1]), store.prepend_bos
                    )
                    for shard in np.unique(chosen[:, 0])
                ]
            )
            tokens = tokens[torch.from_numpy(_rng(config.seed, epoch, fill).permutation(len(tokens)))]
            for batch in range(n_batches):
                if step >= start_step:
                    yield tokens[batch * schedule.batch_tokens : (batch + 1) * schedule.batch_tokens]
                step += 1
        epoch += 1


# --- training -----------------------------------------------------------------------------------
def fingerprint(config: SAEConfig, schedule: StreamingSchedule, manifest: dict) -> str:
    """What a checkpoint must match to be resumed: the run's configs, the store's shards, the format."""
    shards = [shard["sha256"] for shard in manifest["shards"]]
    run = {"config": config.to_dict(), "schedule": schedule.to_dict(), "shards": shards, "format": CHECKPOINT_FORMAT}
    return hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()


def train_streaming(
    store: CorpusStore,
    config: SAEConfig,
    schedule: StreamingSchedule,
    device: str | torch.device = "cpu",
    checkpoint: str | os.PathLike | None = None,
    after_step: Callable[[int], None] | None = None,
) -> tuple[nn.Module, pd.DataFrame]:
    """Train on the store's training shards; returns the model (eval mode) and the training log.

    With ``checkpoint``, the run resumes from that file when it holds a checkpoint of this run and
    saves one there every ``checkpoint_every`` steps. ``after_step(step)`` is called after each step.
    """
    state = new_state(config, device)
    run = fingerprint(config, schedule, store.manifest)
    if checkpoint is not None and load_checkpoint(state, checkpoint, run):
        log.info("resuming from the checkpoint at step %d of %d", state.step, schedule.steps)

    def checkpoint_and_report(state: TrainingState) -> None:
        if checkpoint is not None and state.step % schedule.checkpoint_every == 0 and state.step < schedule.steps:
            save_checkpoint(state, checkpoint, run)
        if after_step is not None:
            after_step(state.step)

    train_steps(
        state,
        minibatches(store, config, schedule, start_step=state.step),
        schedule.steps,
        dead_after_tokens=schedule.dead_after_tokens,
        log_every=schedule.log_every,
        after_step=checkpoint_and_report,
        dtype=schedule.dtype,
    )
    return state.model.eval(), log_table(state)

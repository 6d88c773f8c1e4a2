"""The one SAE training loop (Adam, any variant), its log and its checkpoints.

Both SAE methods train here: :func:`train_full_batch` on a text's activations (every step sees
every token) and :func:`interpflow.sae.core.streaming.train_streaming` on minibatches from a corpus store.

The training log has one row per logged step (:data:`LOG_COLUMNS`), each about the batch that step
trained on, measured in that step's forward pass (before its update):

- ``step`` (1 = after the first update), ``tokens`` trained on so far;
- ``loss`` (what was minimized) and its weighted terms ``mse`` (per element), ``l1``,
  ``decorrelation`` and ``auxk`` (the AuxK term before its coefficient; 0 for variants without them);
- ``fvu``: ``Σ‖x − x̂‖² / Σ‖x − mean(x)‖²`` over the batch; ``l0``: mean non-zero latents per token;
- ``dead_fraction``: the fraction of latents that fired on none of the last ``dead_after_tokens``
  training tokens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from torch import nn

from interpflow.models.devices import has_fast_half_precision
from interpflow.runtime.atomic_io import write_safetensors
from interpflow.runtime.progress import Progress
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.variants import VARIANTS, Variant, build_model

log = logging.getLogger(__name__)

TRAINING_DTYPES = ("float32", "bfloat16")  # config `sae.dtype`: what a step computes its products in
LOG_COLUMNS = ["step", "tokens", "loss", "mse", "l1", "decorrelation", "auxk", "fvu", "l0", "dead_fraction"]


@dataclass
class TrainingState:
    """Everything a resumed run needs: the model, Adam, the dead-latent counters and the log so far."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    tokens_since_fired: torch.Tensor  # (latents,) int64
    rows: list[tuple]  # training log rows (LOG_COLUMNS)
    step: int = 0
    tokens: int = 0


def new_state(config: SAEConfig, device: str | torch.device) -> TrainingState:
    """A fresh model of ``config`` on ``device`` with its Adam optimizer."""
    device = torch.device(device)
    model = build_model(config).to(device)
    # The fused kernel updates all moments in one pass: ~4x faster than the default on CPU, same numbers.
    fused = device.type in {"cpu", "cuda"}
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=fused)
    counters = torch.zeros(config.latent_dim, dtype=torch.int64, device=device)
    return TrainingState(model, optimizer, counters, [])


def train_steps(
    state: TrainingState,
    batches: Iterable[torch.Tensor],
    steps: int,
    *,
    dead_after_tokens: int,
    log_every: int,
    after_step: Callable[[TrainingState], None] | None = None,
    variant_override: Variant | None = None,
    dtype: str = "float32",
) -> None:
    """Train ``state`` until ``state.step == steps``, one step per batch ``(tokens, input_dim)`` of ``batches``.

    A log row is kept every ``log_every`` steps and at the last; ``after_step(state)`` runs after each
    step (checkpoints, tests). ``variant_override`` replaces how the model's variant is scored (benchmarks).
    ``dtype`` (:data:`TRAINING_DTYPES`) is what the forward products compute in (:func:`autocast`); the
    weights, their gradients and Adam's moments are float32 either way.
    """
    model, optimizer = state.model, state.optimizer
    variant = variant_override or VARIANTS[model.config.variant]
    device = state.tokens_since_fired.device
    progress = Progress(steps - state.step, "steps", "trained", log)
    if dtype in TRAINING_DTYPES and not has_fast_half_precision(device, getattr(torch, dtype)):
        log.warning(
            "this CPU has no %s matrix instructions (oneDNN finds no AMX or AVX512-BF16): the steps run far slower "
            "than in float32; set the instance's sae.dtype: float32 here, %s on a GPU or such a CPU",
            dtype,
            dtype,
        )
    batches = iter(batches)
    while state.step < steps:
        x = next(batches).to(device)
        optimizer.zero_grad()
        with autocast(device, dtype):
            terms, fired = variant.loss_terms(model, x, state.tokens_since_fired >= dead_after_tokens)
        terms["loss"].backward()
        variant.constrain_gradient(model)
        optimizer.step()
        variant.constrain_weights(model)
        state.step += 1
        state.tokens += len(x)
        with torch.no_grad():
            state.tokens_since_fired += len(x)
            state.tokens_since_fired[fired] = 0
            if state.step % log_every == 0 or state.step == steps:
                state.rows.append(_log_row(state, x, terms, dead_after_tokens))
        progress.advance(note=f"loss {terms['loss'].item():.5f}")
        if after_step is not None:
            after_step(state)


def autocast(device: torch.device, dtype: str):
    """The context a training step's forward pass runs in: nothing for ``float32``, else ``torch.autocast``
    to ``dtype`` (matrix products in ``dtype``, reductions and the loss in float32; the backward pass
    follows the forward's dtypes)."""
    if dtype not in TRAINING_DTYPES:
        raise ValueError(f"SAE training dtype {dtype!r}: one of {', '.join(TRAINING_DTYPES)}")
    return contextlib.nullcontext() if dtype == "float32" else torch.autocast(device.type, dtype=getattr(torch, dtype))


def _log_row(state: TrainingState, x, terms, dead_after_tokens: int) -> tuple:
    """One row of the training log (:data:`LOG_COLUMNS`) for the batch ``x`` just trained on."""
    error = ((x - terms["x_hat"].float()) ** 2).sum().item()
    spread = ((x - x.mean(dim=0)) ** 2).sum().item()
    dead = (state.tokens_since_fired >= dead_after_tokens).float().mean().item()
    l0 = terms["l0"].item()
    losses = (terms[name].item() for name in ("loss", "mse", "l1", "decorrelation", "auxk"))
    return (state.step, state.tokens, *losses, error / spread, l0, dead)


def log_table(state: TrainingState) -> pd.DataFrame:
    """The training log so far (:data:`LOG_COLUMNS`); ``log_table(None)`` is the empty log of an SAE not
    trained here (a pretrained one)."""
    table = pd.DataFrame(state.rows if state is not None else [], columns=LOG_COLUMNS)
    return table.astype({column: "int64" if column in ("step", "tokens") else "float64" for column in LOG_COLUMNS})


def train_full_batch(
    activations: np.ndarray,
    config: SAEConfig,
    epochs: int,
    device: str | torch.device = "cpu",
    variant_override=None,
    dtype: str = "float32",
) -> tuple[nn.Module, pd.DataFrame]:
    """Train on all of ``activations`` ``(tokens, input_dim)`` at every step, ``epochs`` steps.

    Returns the model (eval mode) and the training log, one row per epoch; a latent is dead when it
    fired on no token in that epoch. ``variant_override`` and ``dtype``: see :func:`train_steps`.
    """
    state = new_state(config, device)
    x = torch.as_tensor(np.asarray(activations, dtype=np.float32), device=state.tokens_since_fired.device)
    train_steps(
        state,
        (x for _ in range(epochs)),
        epochs,
        dead_after_tokens=len(x),
        log_every=1,
        variant_override=variant_override,
        dtype=dtype,
    )
    return state.model.eval(), log_table(state)


# --- checkpoints --------------------------------------------------------------------------------
def save_checkpoint(state: TrainingState, path: str | os.PathLike, run_fingerprint: str) -> None:
    """``state`` in one safetensors file, under the fingerprint of its run."""
    tensors = {f"model.{name}": value.detach().cpu().numpy() for name, value in state.model.state_dict().items()}
    for index, entries in state.optimizer.state_dict()["state"].items():
        for key, value in entries.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().numpy()
    tensors["tokens_since_fired"] = state.tokens_since_fired.cpu().numpy()
    tensors["log"] = np.asarray(state.rows, dtype=np.float64).reshape(-1, len(LOG_COLUMNS))
    progress = {"step": state.step, "tokens": state.tokens, "fingerprint": run_fingerprint}
    write_safetensors(tensors, path, metadata={"interpflow.checkpoint": json.dumps(progress)})


def load_checkpoint(state: TrainingState, path: str | os.PathLike, run_fingerprint: str) -> bool:
    """Restore ``state`` from ``path`` if it is a checkpoint of this run; True when it was."""
    if not Path(path).is_file():
        return False
    device = state.tokens_since_fired.device
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads((handle.metadata() or {}).get("interpflow.checkpoint", "{}"))
        if meta.get("fingerprint") != run_fingerprint:
            log.info("%s belongs to another run (config, store or format changed): starting afresh", path)
            return False
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    state.model.load_state_dict({name[6:]: value for name, value in tensors.items() if name.startswith("model.")})
    optimizer_state = state.optimizer.state_dict()
    optimizer_state["state"] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            optimizer_state["state"].setdefault(int(index), {})[key] = value
    state.optimizer.load_state_dict(optimizer_state)
    state.tokens_since_fired = tensors["tokens_since_fired"].to(device)
    state.rows = [tuple(row) for row in tensors["log"].tolist()]
    state.step, state.tokens = meta["step"], meta["tokens"]
    return True


def flops_per_token(config: SAEConfig) -> float:
    """Matmul FLOPs of one training step per token: encoder and decoder, forward and backward (3x)."""
    return 3 * 2 * 2 * config.input_dim * config.latent_dim

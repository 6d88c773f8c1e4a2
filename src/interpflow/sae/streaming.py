"""Sparse autoencoders trained on a sharded corpus store, a minibatch at a time, with resume.

Two variants (``variant``; :data:`VARIANTS` says how to build, score and constrain each):

- ``topk``: the standard untied TopK SAE. ``z = topk_k(relu(W_enc (x - b_pre) + b_enc))``,
  ``x_hat = W_dec z + b_pre``; decoder rows (one per latent) have unit norm (their gradient's
  radial part is removed before each step, and they are renormalized after it). Loss = MSE.
- ``tied_ksparse``: the lecture's tied k-sparse SAE (:class:`interpflow.sae.KSparseAutoencoder`)
  with its L1 and decorrelation terms, the decorrelation in the Gram form over each minibatch
  (:func:`interpflow.sae.decorrelation_penalty_gram`).

**Data order.** The training shards are all but the last ``heldout_shards``. Each epoch visits
their windows in a random order (seeded by ``seed`` and the epoch); a *fill* of the shuffle buffer
takes the next ``buffer_tokens // context_size`` windows, drops their BOS positions, shuffles the
tokens (seeded by ``seed``, epoch and fill) and yields minibatches of ``batch_tokens`` (the tokens
short of a full minibatch are left out). Training stops after ``token_budget`` tokens. The
minibatch of every step is a function of the config alone, so a run resumed from a checkpoint
sees the same minibatches as an uninterrupted one and ends with the same weights.

**Checkpoints** (every ``checkpoint_every`` steps; one safetensors file): weights, the Adam state,
the dead-latent counters and the training log so far, under a fingerprint of everything that
defines the run; a checkpoint of a different run is never resumed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from torch import nn

from interpflow.runtime.atomic_io import write_safetensors
from interpflow.runtime.progress import Progress
from interpflow.runtime.schema import option_defaults
from interpflow.sae.autoencoder import KSparseAutoencoder, SAEConfig, decorrelation_penalty_gram
from interpflow.stores.corpus_store import CorpusStore

log = logging.getLogger(__name__)

LOG_COLUMNS = ["step", "tokens", "loss", "mse", "fvu", "l0", "dead_fraction"]


DEFAULTS = option_defaults("streaming_sae.sae")  # the schema's, the one place defaults live


@dataclass(frozen=True)
class StreamingSAEConfig:
    """Everything that defines a training run (saved with the weights, fingerprinted in checkpoints).
    Options left out take the defaults of ``streaming_sae.sae`` in the configuration schema."""

    site: str
    input_dim: int
    latent_dim: int
    k: int = DEFAULTS["k"]
    variant: str = DEFAULTS["variant"]
    l1_weight: float = DEFAULTS["l1_weight"]
    decorrelation_weight: float = DEFAULTS["decorrelation_weight"]
    learning_rate: float = DEFAULTS["learning_rate"]
    batch_tokens: int = DEFAULTS["batch_tokens"]
    buffer_tokens: int = DEFAULTS["buffer_tokens"]
    token_budget: int = DEFAULTS["token_budget"]
    heldout_shards: int = DEFAULTS["heldout_shards"]
    dead_after_tokens: int = DEFAULTS["dead_after_tokens"]
    log_every: int = DEFAULTS["log_every"]
    checkpoint_every: int = DEFAULTS["checkpoint_every"]
    seed: int = DEFAULTS["seed"]

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant {self.variant!r}: one of {', '.join(VARIANTS)}")
        if not 1 <= self.k <= self.latent_dim:
            raise ValueError(f"k = {self.k} must be in 1..latent_dim ({self.latent_dim})")

    @property
    def steps(self) -> int:
        return self.token_budget // self.batch_tokens

    def to_dict(self) -> dict:
        return asdict(self)


class TopKAutoencoder(nn.Module):
    """Untied TopK SAE: ``W_enc`` ``(latents, input)``, ``b_enc`` ``(latents,)``, ``W_dec``
    ``(latents, input)`` with unit-norm rows, ``b_pre`` ``(input,)``."""

    def __init__(self, input_dim: int, latent_dim: int, k: int, generator: torch.Generator):
        super().__init__()
        self.k = k
        decoder = torch.randn(latent_dim, input_dim, generator=generator)
        decoder /= decoder.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(decoder)
        self.W_enc = nn.Parameter(decoder.clone())
        self.b_enc = nn.Parameter(torch.zeros(latent_dim))
        self.b_pre = nn.Parameter(torch.zeros(input_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(tokens, input)`` -> ``(tokens, latents)`` with at most ``k`` non-zero per token."""
        pre = torch.relu((x - self.b_pre) @ self.W_enc.T + self.b_enc)
        top = pre.topk(self.k, dim=1)
        return torch.zeros_like(pre).scatter(1, top.indices, top.values)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W_dec + self.b_pre

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z), z

    @torch.no_grad()
    def remove_radial_gradient(self) -> None:
        """Keep the decoder rows' update tangent to the unit sphere."""
        if self.W_dec.grad is not None:
            radial = (self.W_dec.grad * self.W_dec).sum(dim=1, keepdim=True)
            self.W_dec.grad -= radial * self.W_dec

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True)


def _build_topk(config: StreamingSAEConfig) -> TopKAutoencoder:
    generator = torch.Generator().manual_seed(config.seed)
    return TopKAutoencoder(config.input_dim, config.latent_dim, config.k, generator)


def _topk_loss_terms(model: TopKAutoencoder, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    x_hat, z = model(x)
    mse = ((x_hat - x) ** 2).mean()
    return {"loss": mse, "mse": mse, "x_hat": x_hat}, z


def _build_tied_ksparse(config: StreamingSAEConfig) -> KSparseAutoencoder:
    tied = SAEConfig(
        input_dim=config.input_dim,
        latent_dim=config.latent_dim,
        k=config.k,
        l1_weight=config.l1_weight,
        decorrelation_weight=config.decorrelation_weight,
        learning_rate=config.learning_rate,
        seed=config.seed,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return KSparseAutoencoder(tied)


def _tied_ksparse_loss_terms(model: KSparseAutoencoder, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], None]:
    x_hat, z = model.forward_active(x)
    config = model.config
    mse = ((x_hat - x) ** 2).mean()
    l1 = config.l1_weight * z.abs().sum() / (z.shape[0] * config.latent_dim)
    decorrelation = config.decorrelation_weight * decorrelation_penalty_gram(z)
    return {"loss": mse + l1 + decorrelation, "mse": mse, "x_hat": x_hat}, None


def _unconstrained(model: nn.Module) -> None:
    return None


@dataclass(frozen=True)
class Variant:
    """How the trainer builds, scores and constrains one kind of SAE (registered in :data:`VARIANTS`).

    ``build(config)``: a fresh model from ``config.seed``. ``loss_terms(model, x)``: ``{"loss", "mse",
    "x_hat"}`` for a minibatch ``x`` ``(tokens, input_dim)``, and the latents ``(tokens, latent_dim)``
    (``None``: the trainer encodes ``x`` again to count what fired). ``constrain_gradient(model)`` runs
    between ``backward`` and the optimizer step, ``constrain_weights(model)`` after it.
    """

    build: Callable[[StreamingSAEConfig], nn.Module]
    loss_terms: Callable[[nn.Module, torch.Tensor], tuple[dict[str, torch.Tensor], torch.Tensor | None]]
    constrain_gradient: Callable[[nn.Module], None] = _unconstrained
    constrain_weights: Callable[[nn.Module], None] = _unconstrained


# ``StreamingSAEConfig.variant`` -> how to train it. A new variant is one more entry (and its name in the
# schema's ``streaming_sae.sae.variant``); the trainer, checkpoints and saved files need no change.
VARIANTS: dict[str, Variant] = {
    "topk": Variant(
        _build_topk,
        _topk_loss_terms,
        constrain_gradient=TopKAutoencoder.remove_radial_gradient,
        constrain_weights=TopKAutoencoder.normalize_decoder,
    ),
    "tied_ksparse": Variant(_build_tied_ksparse, _tied_ksparse_loss_terms),
}


def build_model(config: StreamingSAEConfig) -> nn.Module:
    """A fresh SAE of ``config.variant``, initialized from ``config.seed``."""
    return VARIANTS[config.variant].build(config)


def loss_terms(model: nn.Module, x: torch.Tensor, variant: str) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """The loss (``loss``) and its parts for a minibatch ``x`` of an SAE of ``variant``, and its latents."""
    return VARIANTS[variant].loss_terms(model, x)


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


def minibatches(store: CorpusStore, config: StreamingSAEConfig, start_step: int = 0) -> Iterator[torch.Tensor]:
    """The minibatches of steps ``start_step, start_step + 1, ...`` (module docstring), forever
    (the caller stops at the token budget). Fills before ``start_step`` are skipped unread."""
    shards = training_shards(store, config.heldout_shards)
    windows = np.concatenate([np.stack([np.full(store.windows(s), s), np.arange(store.windows(s))], 1) for s in shards])
    per_window = store.context_size - int(store.prepend_bos)
    fill_windows = max(config.buffer_tokens // store.context_size, 1)
    largest_fill = min(fill_windows, len(windows)) * per_window
    if largest_fill < config.batch_tokens:
        raise ValueError(
            f"a fill of the shuffle buffer holds {largest_fill} tokens, fewer than one minibatch "
            f"({config.batch_tokens}); raise sae.buffer_tokens or lower sae.batch_tokens "
            f"(the training shards hold {len(windows) * per_window} tokens)"
        )
    step, epoch = 0, 0
    while True:
        order = windows[_rng(config.seed, epoch).permutation(len(windows))]
        for fill, start in enumerate(range(0, len(order), fill_windows)):
            chosen = order[start : start + fill_windows]
            n_batches = len(chosen) * per_window // config.batch_tokens
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
                    yield tokens[batch * config.batch_tokens : (batch + 1) * config.batch_tokens]
                step += 1
        epoch += 1


# --- training -----------------------------------------------------------------------------------
def fingerprint(config: StreamingSAEConfig, manifest: dict) -> str:
    """What a checkpoint must match to be resumed: the run's config and the store's shards."""
    shards = [shard["sha256"] for shard in manifest["shards"]]
    text = json.dumps({"config": config.to_dict(), "shards": shards}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class TrainingState:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    tokens_since_fired: torch.Tensor  # (latents,) int64
    rows: list[tuple]  # training log rows (LOG_COLUMNS)
    step: int = 0


def _new_state(config: StreamingSAEConfig, device: torch.device) -> TrainingState:
    model = build_model(config).to(device)
    fused = device.type in {"cpu", "cuda"}
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=fused)
    counters = torch.zeros(config.latent_dim, dtype=torch.int64, device=device)
    return TrainingState(model, optimizer, counters, [])


def save_checkpoint(state: TrainingState, path: str | os.PathLike, run_fingerprint: str) -> None:
    tensors = {f"model.{name}": value.detach().cpu().numpy() for name, value in state.model.state_dict().items()}
    for index, entries in state.optimizer.state_dict()["state"].items():
        for key, value in entries.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().numpy()
    tensors["tokens_since_fired"] = state.tokens_since_fired.cpu().numpy()
    tensors["log"] = np.asarray(state.rows, dtype=np.float64).reshape(-1, len(LOG_COLUMNS))
    meta = {"interpflow.checkpoint": json.dumps({"step": state.step, "fingerprint": run_fingerprint})}
    write_safetensors(tensors, path, metadata=meta)


def load_checkpoint(state: TrainingState, path: str | os.PathLike, run_fingerprint: str) -> bool:
    """Restore ``state`` from ``path`` if it is a checkpoint of this run; True when it was."""
    if not Path(path).is_file():
        return False
    device = state.tokens_since_fired.device
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads((handle.metadata() or {}).get("interpflow.checkpoint", "{}"))
        if meta.get("fingerprint") != run_fingerprint:
            log.info("%s belongs to another run (config or store changed): starting afresh", path)
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
    state.step = meta["step"]
    return True


def train(
    store: CorpusStore,
    config: StreamingSAEConfig,
    device: str | torch.device = "cpu",
    checkpoint: str | os.PathLike | None = None,
    after_step: Callable[[int], None] | None = None,
) -> tuple[nn.Module, pd.DataFrame]:
    """Train on the store's training shards; returns the model (eval mode) and the training log.

    With ``checkpoint``, the run resumes from that file when it holds a checkpoint of this run and
    saves one there every ``checkpoint_every`` steps. ``after_step(step)`` is called after each step.
    """
    device = torch.device(device)
    state = _new_state(config, device)
    run = fingerprint(config, store.manifest)
    if checkpoint is not None and load_checkpoint(state, checkpoint, run):
        log.info("resuming from the checkpoint at step %d of %d", state.step, config.steps)
    model, optimizer, variant = state.model, state.optimizer, VARIANTS[config.variant]
    progress = Progress(config.steps - state.step, "steps", "trained", log)
    batches = minibatches(store, config, start_step=state.step)
    while state.step < config.steps:
        x = next(batches).to(device)
        optimizer.zero_grad()
        terms, z = variant.loss_terms(model, x)
        terms["loss"].backward()
        variant.constrain_gradient(model)
        optimizer.step()
        variant.constrain_weights(model)
        state.step += 1
        with torch.no_grad():
            fired = (z != 0) if z is not None else (model.encode(x) != 0)
            state.tokens_since_fired += len(x)
            state.tokens_since_fired[fired.any(dim=0)] = 0
            if state.step % config.log_every == 0 or state.step == config.steps:
                state.rows.append(_log_row(state, config, x, terms, fired))
        if checkpoint is not None and state.step % config.checkpoint_every == 0 and state.step < config.steps:
            save_checkpoint(state, checkpoint, run)
        progress.advance(note=f"loss {terms['loss'].item():.5f}")
        if after_step is not None:
            after_step(state.step)
    return model.eval(), pd.DataFrame(state.rows, columns=LOG_COLUMNS).astype({"step": "int64", "tokens": "int64"})


def _log_row(state: TrainingState, config: StreamingSAEConfig, x, terms, fired) -> tuple:
    """One row of the training log (:data:`LOG_COLUMNS`) for the minibatch ``x`` just trained on."""
    error = ((x - terms["x_hat"]) ** 2).sum().item()
    spread = ((x - x.mean(dim=0)) ** 2).sum().item()
    dead = (state.tokens_since_fired >= config.dead_after_tokens).float().mean().item()
    l0 = fired.sum(1).float().mean().item()
    return (
        state.step,
        state.step * config.batch_tokens,
        terms["loss"].item(),
        error / x.numel(),
        error / spread,
        l0,
        dead,
    )


def save_sae(model: nn.Module, config: StreamingSAEConfig, path: str | os.PathLike) -> None:
    tensors = {name: value.detach().cpu().numpy() for name, value in model.state_dict().items()}
    write_safetensors(tensors, path, metadata={"interpflow.sae": json.dumps(config.to_dict(), sort_keys=True)})


def load_sae(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, StreamingSAEConfig]:
    with safe_open(str(path), framework="pt") as handle:
        config = StreamingSAEConfig(**json.loads(handle.metadata()["interpflow.sae"]))
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    model = build_model(config)
    model.load_state_dict(tensors)
    return model.to(device).eval(), config


def flops_per_token(config: StreamingSAEConfig) -> float:
    """Matmul FLOPs of one training step per token: encoder and decoder, forward and backward (3x)."""
    return 3 * 2 * 2 * config.input_dim * config.latent_dim

"""What the model loses when an SAE's reconstruction replaces its site: SAEBench's "core" downstream
metrics (SAELens's ``ce_loss_score`` and ``kl_div_score``).

Three passes over the same windows of token ids: *clean* (the model as it is), *spliced* (the site
replaced by the SAE's reconstruction ``x̂``) and *ablated* (the site replaced by zeros). Only the
positions the SAE reads are replaced: with ``prepend_bos``, a window's BOS keeps its clean value (the
SAE never saw one in training). The predictions counted are those made at a replaced position, of the
next token in the window (the last position predicts nothing), each in nats:

- ``ce_loss_without_sae``, ``ce_loss_with_sae``, ``ce_loss_with_ablation``: the mean next-token
  cross-entropy ``−log p(next token)`` of each pass;
- ``ce_loss_score = (CE_ablated − CE_sae) / (CE_ablated − CE_clean)``: 1 when splicing costs nothing,
  0 when it is as bad as zeroing the site;
- ``kl_div_with_sae``, ``kl_div_with_ablation``: the mean ``KL(p_clean ‖ p_pass)`` over the vocabulary;
- ``kl_div_score = (KL_ablated − KL_sae) / KL_ablated``.

The clean pass is a full forward pass, and gives the site's value that the SAE reads. The spliced and
ablated passes of a residual-stream site (``hook_resid_pre``/``hook_resid_post``) start at that site's
block from that value (the blocks before it would compute the clean values again); other sites run the
whole model with the site replaced by a hook (:func:`replaced_logits`, the reference of both).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch
from torch import nn

from interpflow.models.architectures import adapter_of
from interpflow.models.hooks import block_arguments, capture, hooked, run_block
from interpflow.models.sites import parse_site

SPLICED_COLUMNS = [
    "ce_loss_without_sae",
    "ce_loss_with_sae",
    "ce_loss_with_ablation",
    "ce_loss_score",
    "kl_div_with_sae",
    "kl_div_with_ablation",
    "kl_div_score",
    "spliced_predictions",
]

ROWS = 256  # predictions per float64 log-softmax: 256 × vocabulary × 8 bytes (100 MB at GPT-2's vocabulary)

Replacement = Callable[[torch.Tensor], torch.Tensor]  # (windows, tokens, width) -> the same shape


class SplicedLosses:
    """Sums (float64) of the cross-entropies and KL divergences of the three passes, over blocks of windows."""

    def __init__(self):
        self.predictions = 0
        self.ce = {"clean": 0.0, "sae": 0.0, "ablated": 0.0}
        self.kl = {"sae": 0.0, "ablated": 0.0}

    @torch.no_grad()
    def add(self, logits: dict[str, torch.Tensor], token_ids: torch.Tensor, first: int) -> None:
        """``logits``: ``clean``, ``sae`` and ``ablated``, each ``(windows, tokens, vocab)``; ``token_ids``
        ``(windows, tokens)``; ``first``: the first replaced position (1 with a BOS, else 0). Log-softmax in
        float64, :data:`ROWS` predictions at a time (a small KL is a difference of nearly equal terms)."""
        targets = token_ids[:, first + 1 :].reshape(-1, 1)
        rows = {name: value[:, first:-1].reshape(-1, value.shape[-1]) for name, value in logits.items()}
        self.predictions += len(targets)
        for start in range(0, len(targets), ROWS):
            chunk = slice(start, start + ROWS)
            clean = torch.log_softmax(rows["clean"][chunk].double(), dim=-1)
            self.ce["clean"] -= float(clean.gather(-1, targets[chunk]).sum())
            p_clean = clean.exp()
            for name in ("sae", "ablated"):
                other = torch.log_softmax(rows[name][chunk].double(), dim=-1)
                self.ce[name] -= float(other.gather(-1, targets[chunk]).sum())
                self.kl[name] += float((p_clean * (clean - other)).sum())

    def metrics(self) -> dict[str, float]:
        """:data:`SPLICED_COLUMNS` (means per prediction, in nats; the scores as the module docstring)."""
        n = self.predictions
        ce = {name: total / n for name, total in self.ce.items()}
        kl = {name: total / n for name, total in self.kl.items()}
        return {
            "ce_loss_without_sae": ce["clean"],
            "ce_loss_with_sae": ce["sae"],
            "ce_loss_with_ablation": ce["ablated"],
            "ce_loss_score": _score(ce["ablated"] - ce["sae"], ce["ablated"] - ce["clean"]),
            "kl_div_with_sae": kl["sae"],
            "kl_div_with_ablation": kl["ablated"],
            "kl_div_score": _score(kl["ablated"] - kl["sae"], kl["ablated"]),
            "spliced_predictions": n,
        }

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([self.metrics()], columns=SPLICED_COLUMNS)


def _score(gain: float, scale: float) -> float:
    """``gain / scale``; NaN where zeroing the site changes nothing (no scale to measure against)."""
    return gain / scale if scale != 0 else float("nan")


def at_read_positions(transform: Callable[[torch.Tensor], torch.Tensor], first: int) -> Replacement:
    """A replacement that applies ``transform`` (``(tokens, width)`` -> the same) at positions ``first..``
    and keeps the earlier ones (a BOS) as they are."""

    def replace(value: torch.Tensor) -> torch.Tensor:
        read = value[:, first:]
        new = transform(read.reshape(-1, read.shape[-1]).float()).reshape(read.shape).to(value.dtype)
        return torch.cat([value[:, :first], new], dim=1)

    return replace


@torch.no_grad()
def replaced_logits(model: nn.Module, site: str, token_ids: torch.Tensor, replace: Replacement | None) -> torch.Tensor:
    """``(windows, tokens, vocab)`` logits of a full forward pass with ``site`` replaced (``None``: clean)."""
    hooks = {} if replace is None else {site: replace}
    with hooked(model, hooks):
        return model(token_ids, use_cache=False).logits


@torch.no_grad()
def spliced_logits(
    model: nn.Module, site: str, token_ids: torch.Tensor, replacements: dict[str, Replacement]
) -> dict[str, torch.Tensor]:
    """``clean`` and one entry per replacement: ``(windows, tokens, vocab)`` logits, the replaced passes
    started at the site's block where the site is the residual stream (module docstring)."""
    parsed = parse_site(site)
    if parsed.hook not in ("hook_resid_pre", "hook_resid_post"):
        passes = {"clean": None, **replacements}
        return {name: replaced_logits(model, site, token_ids, replace) for name, replace in passes.items()}
    with capture(model, [site]) as captured:
        clean = model(token_ids, use_cache=False).logits
    adapter = adapter_of(model)
    with block_arguments(model) as arguments:  # masks and positions, as the model gives them to its blocks
        model.base_model(token_ids, use_cache=False)
    blocks = adapter.blocks(model)
    start = parsed.layer + (parsed.hook == "hook_resid_post")
    logits = {"clean": clean}
    for name, replace in replacements.items():
        residual = replace(captured[site])
        for index in range(start, len(blocks)):
            residual = run_block(blocks[index], residual, arguments[index])
        logits[name] = adapter.unembed(model, adapter.final_norm(model)(residual))
    return logits


def spliced_replacements(sae: nn.Module, first: int) -> dict[str, Replacement]:
    """``sae``: the site replaced by the SAE's reconstruction; ``ablated``: by zeros (positions ``first..``)."""
    return {
        "sae": at_read_positions(lambda x: sae(x)[0], first),
        "ablated": at_read_positions(torch.zeros_like, first),
    }


@torch.no_grad()
def spliced_losses(
    model: nn.Module, sae: nn.Module, store, site: str, shards: list[int], batch_tokens: int, progress=None
) -> pd.DataFrame:
    """:data:`SPLICED_COLUMNS` (one row) of ``sae`` spliced into ``model`` at ``site``, over the windows of
    ``shards`` of the corpus store ``store``, about ``batch_tokens`` tokens per forward pass."""
    device = next(model.parameters()).device
    first = int(store.prepend_bos)
    windows = max(batch_tokens // store.context_size, 1)
    replacements = spliced_replacements(sae, first)
    losses = SplicedLosses()
    for shard in shards:
        for start in range(0, store.windows(shard), windows):
            indices = list(range(start, min(start + windows, store.windows(shard))))
            token_ids = torch.as_tensor(store.token_ids(shard, indices), dtype=torch.long, device=device)
            losses.add(spliced_logits(model, site, token_ids, replacements), token_ids, first)
            if progress is not None:
                progress.advance(len(indices))
    return losses.table()

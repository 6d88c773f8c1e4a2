"""What the model loses when an SAE's reconstruction replaces its site: SAEBench's "core" downstream
metrics, defined as SAELens's ``get_recons_loss`` and SAEBench's core evaluation define them.

Three passes over the same windows of token ids: *clean* (the model as it is), *spliced* (the site
replaced by the SAE's reconstruction ``x̂``) and *ablated* (the site zeroed). The *special tokens* are the
tokenizer's BOS, EOS and PAD ids, wherever they stand in a window (a window's first BOS, and the EOS that
ends each document inside it):

- the ablated pass zeroes the site at every position;
- the spliced pass replaces every position, except that with ``exclude_special_tokens_from_reconstruction``
  the special tokens keep their clean values (SAELens's ``ignore_tokens`` as the replacement mask; the SAE
  never saw them in training);
- every mean skips the positions whose token is special. The cross-entropy is of the prediction each position
  ``0..T−2`` makes of the next token; the KL is of each position's distribution, ``0..T−1`` (the last one
  predicts no token in the window, but its distribution counts, as in SAELens).

Each in nats:

- ``ce_loss_without_sae``, ``ce_loss_with_sae``, ``ce_loss_with_ablation``: the mean next-token
  cross-entropy ``−log p(next token)`` of each pass, over ``spliced_predictions`` predictions;
- ``ce_loss_score = (CE_ablated − CE_sae) / (CE_ablated − CE_clean)``: 1 when splicing costs nothing,
  0 when it is as bad as zeroing the site;
- ``kl_div_with_sae``, ``kl_div_with_ablation``: the mean ``KL(p_clean ‖ p_pass)`` over the vocabulary, over
  ``spliced_kl_positions`` positions;
- ``kl_div_score = (KL_ablated − KL_sae) / KL_ablated``;
- ``spliced_tokens``: every token of the windows evaluated (what SAEBench's ``token_stats`` count).

Log-softmax is taken in float64 (a small KL is a difference of nearly equal terms); the peers take it in the
logits' dtype, which agrees to about 1e-6.

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
    "spliced_kl_positions",
    "spliced_tokens",
]

ROWS = 256  # predictions per float64 log-softmax: 256 × vocabulary × 8 bytes (100 MB at GPT-2's vocabulary)

Replacement = Callable[[torch.Tensor], torch.Tensor]  # (windows, tokens, width) -> the same shape


def special_positions(token_ids: torch.Tensor, special_ids) -> torch.Tensor:
    """``(windows, tokens)`` bool: where ``token_ids`` holds one of ``special_ids``."""
    specials = torch.as_tensor(sorted(special_ids), dtype=token_ids.dtype, device=token_ids.device)
    return torch.isin(token_ids, specials)


class SplicedLosses:
    """Sums (float64) of the cross-entropies and KL divergences of the three passes, over blocks of windows."""

    def __init__(self):
        self.predictions, self.kl_positions, self.tokens = 0, 0, 0
        self.ce = {"clean": 0.0, "sae": 0.0, "ablated": 0.0}
        self.kl = {"sae": 0.0, "ablated": 0.0}

    @torch.no_grad()
    def add(self, logits: dict[str, torch.Tensor], token_ids: torch.Tensor, counted: torch.Tensor) -> None:
        """``logits``: ``clean``, ``sae`` and ``ablated``, each ``(windows, tokens, vocab)``; ``token_ids``
        ``(windows, tokens)``; ``counted`` ``(windows, tokens)`` bool: the positions the means count (the CE
        of a position's prediction of the next token, the KL of its distribution). Log-softmax in float64,
        :data:`ROWS` positions at a time."""
        self.tokens += token_ids.numel()
        predicts = torch.zeros_like(counted)
        predicts[:, :-1] = counted[:, :-1]  # the last position predicts no token of the window
        targets = torch.zeros_like(token_ids)
        targets[:, :-1] = token_ids[:, 1:]
        counted, predicts, targets = counted.reshape(-1), predicts.reshape(-1), targets.reshape(-1, 1)
        rows = {name: value.reshape(-1, value.shape[-1]) for name, value in logits.items()}
        self.predictions += int(predicts.sum())
        self.kl_positions += int(counted.sum())
        for start in range(0, len(targets), ROWS):
            chunk = slice(start, start + ROWS)
            ce_rows, kl_rows = predicts[chunk], counted[chunk]
            clean = torch.log_softmax(rows["clean"][chunk].double(), dim=-1)
            self.ce["clean"] -= float(clean.gather(-1, targets[chunk])[ce_rows].sum())
            p_clean = clean.exp()
            for name in ("sae", "ablated"):
                other = torch.log_softmax(rows[name][chunk].double(), dim=-1)
                self.ce[name] -= float(other.gather(-1, targets[chunk])[ce_rows].sum())
                self.kl[name] += float((p_clean * (clean - other)).sum(-1)[kl_rows].sum())

    def metrics(self) -> dict[str, float]:
        """:data:`SPLICED_COLUMNS` (means in nats; the scores as the module docstring)."""
        ce = {name: total / self.predictions for name, total in self.ce.items()}
        kl = {name: total / self.kl_positions for name, total in self.kl.items()}
        return {
            "ce_loss_without_sae": ce["clean"],
            "ce_loss_with_sae": ce["sae"],
            "ce_loss_with_ablation": ce["ablated"],
            "ce_loss_score": _score(ce["ablated"] - ce["sae"], ce["ablated"] - ce["clean"]),
            "kl_div_with_sae": kl["sae"],
            "kl_div_with_ablation": kl["ablated"],
            "kl_div_score": _score(kl["ablated"] - kl["sae"], kl["ablated"]),
            "spliced_predictions": self.predictions,
            "spliced_kl_positions": self.kl_positions,
            "spliced_tokens": self.tokens,
        }

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([self.metrics()], columns=SPLICED_COLUMNS)


def _score(gain: float, scale: float) -> float:
    """``gain / scale``; NaN where zeroing the site changes nothing (no scale to measure against)."""
    return gain / scale if scale != 0 else float("nan")


def replaced_where(transform: Callable[[torch.Tensor], torch.Tensor], kept: torch.Tensor | None) -> Replacement:
    """A replacement that applies ``transform`` (``(tokens, width)`` -> the same, in float32) at every position,
    except where ``kept`` (``(windows, tokens)`` bool, or ``None``: nowhere) keeps the clean value."""

    def replace(value: torch.Tensor) -> torch.Tensor:
        new = transform(value.reshape(-1, value.shape[-1]).float()).reshape(value.shape).to(value.dtype)
        return new if kept is None else torch.where(kept[..., None], value, new)

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


def spliced_replacements(sae: nn.Module, kept: torch.Tensor | None = None) -> dict[str, Replacement]:
    """``sae``: the site replaced by the SAE's reconstruction, except at the positions ``kept`` (``(windows,
    tokens)`` bool: the special tokens, when they are excluded from the reconstruction); ``ablated``: by zeros,
    at every position."""
    return {"sae": replaced_where(lambda x: sae(x)[0], kept), "ablated": torch.zeros_like}


@torch.no_grad()
def spliced_losses(
    model: nn.Module,
    sae: nn.Module,
    store,
    site: str,
    shards: list[int],
    batch_tokens: int,
    special_ids,
    exclude_special_tokens_from_reconstruction: bool = True,
    progress=None,
) -> pd.DataFrame:
    """:data:`SPLICED_COLUMNS` (one row) of ``sae`` spliced into ``model`` at ``site``, over the windows of
    ``shards`` of the corpus store ``store``, about ``batch_tokens`` tokens per forward pass; ``special_ids``:
    the tokenizer's BOS, EOS and PAD ids (the positions skipped, and kept clean when excluded)."""
    device = next(model.parameters()).device
    windows = max(batch_tokens // store.context_size, 1)
    losses = SplicedLosses()
    for shard in shards:
        for start in range(0, store.windows(shard), windows):
            indices = list(range(start, min(start + windows, store.windows(shard))))
            token_ids = torch.as_tensor(store.token_ids(shard, indices), dtype=torch.long, device=device)
            special = special_positions(token_ids, special_ids)
            replacements = spliced_replacements(sae, special if exclude_special_tokens_from_reconstruction else None)
            losses.add(spliced_logits(model, site, token_ids, replacements), token_ids, ~special)
            if progress is not None:
                progress.advance(len(indices))
    return losses.table()

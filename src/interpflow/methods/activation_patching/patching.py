"""Activation patching: the clean run's activation put into the corrupted run, one site and slot at a time.

For a pair, the metric is the logit difference at the last position, ``logit(answer) -
logit(wrong answer)``, and a patch's score is ``(patched - corrupted) / (clean - corrupted)`` of the
pairs' mean logit differences: 0 where the patch changes nothing, 1 where it restores the clean run.

A variant patches, in one block, either positions of a per-token site (``hook_resid_pre``,
``hook_attn_out``, ``hook_mlp_out``) or one head of ``attn.hook_z`` at the patched positions. The
corrupted run is cached once per pair (every block's input and the arguments the model passes its
blocks), and each batch of variants restarts at the patched block (:func:`interpflow.models.hooks.run_block`).
The baselines run through the same engine: the corrupted run is the variant that patches nothing,
the clean run the one that patches every position of block 0's input with the clean activation.
Every forward pass runs ``batch_size`` variants (the last batch filled with repeats), so a variant's
bits do not depend on the batch it fell in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from interpflow.circuits.clean_runs import clean_activations
from interpflow.circuits.patch_tables import (
    HEAD_SITE,
    pairs_table,
    patching_by_pair_table,
    patching_table,
)
from interpflow.methods.activation_patching.method import METHOD
from interpflow.models.architectures import adapter_of
from interpflow.models.hooks import block_arguments, capture, hooked, run_block
from interpflow.models.sites import block_site
from interpflow.stores.prompt_pairs import read_pairs, resolve_positions, tokenize_pairs


@dataclass(frozen=True)
class Variant:
    """One patch in one block: the ``positions`` patched and, for ``attn.hook_z``, the ``head`` (else ``None``)."""

    positions: tuple[int, ...]
    head: int | None = None


def variants(hook: str, positions: list[int], n_heads: int) -> list[Variant]:
    """A site's variants in one block: each position alone, or each head at all ``positions``."""
    if hook == HEAD_SITE:
        return [Variant(tuple(positions), head) for head in range(n_heads)]
    return [Variant((position,)) for position in positions]


class CorruptedRun:
    """One pair's corrupted prompt, cached so that patched runs restart at any block.

    ``token_ids``: ``(tokens,)``; ``clean``: site name -> the clean prompt's ``(tokens, *shape)`` activation.
    """

    def __init__(self, model: nn.Module, token_ids: torch.Tensor, clean: dict[str, torch.Tensor], batch_size: int):
        self.model, self.clean, self.batch_size = model, clean, batch_size
        self.adapter = adapter_of(model)
        self.blocks = self.adapter.blocks(model)
        batch = token_ids.unsqueeze(0).expand(batch_size, -1)
        inputs = [block_site(layer, "hook_resid_pre") for layer in range(len(self.blocks))]
        with torch.no_grad(), capture(model, inputs) as captured:
            model.base_model(token_ids.unsqueeze(0), use_cache=False)
        self.resid_pre = [captured[site][0] for site in inputs]  # (tokens, d_model) per block
        with torch.no_grad(), block_arguments(model) as arguments:  # masks and positions for a full batch
            model.base_model(batch, use_cache=False)
        self.arguments = arguments

    @torch.no_grad()
    def logit_diffs(self, hook: str, layer: int, patches: list[Variant], answer: int, wrong: int) -> np.ndarray:
        """``(len(patches),)`` float64 logit differences of the corrupted run with each variant patched
        into ``hook`` of block ``layer``."""
        out = []
        for start in range(0, len(patches), self.batch_size):
            chunk = patches[start : start + self.batch_size]
            filled = chunk + [chunk[-1]] * (self.batch_size - len(chunk))
            out.append(self._run(hook, layer, filled, answer, wrong)[: len(chunk)])
        return np.concatenate(out) if out else np.zeros(0)

    def _run(self, hook: str, layer: int, batch: list[Variant], answer: int, wrong: int) -> np.ndarray:
        residual = self.resid_pre[layer].unsqueeze(0).repeat(len(batch), 1, 1)
        site = block_site(layer, hook)
        hooks = {}
        if hook == "hook_resid_pre":
            residual = patched(residual, self.clean[site], batch)
        else:
            hooks[site] = lambda value: patched(value, self.clean[site], batch)
        with hooked(self.model, hooks):
            residual = run_block(self.blocks[layer], residual, self.arguments[layer])
        for index in range(layer + 1, len(self.blocks)):
            residual = run_block(self.blocks[index], residual, self.arguments[index])
        last = self.adapter.final_norm(self.model)(residual[:, -1:])  # the answer is read at the last position
        logits = self.adapter.unembed(self.model, last)[:, 0].double()
        return (logits[:, answer] - logits[:, wrong]).cpu().numpy()


def patched(value: torch.Tensor, clean: torch.Tensor, batch: list[Variant]) -> torch.Tensor:
    """``value`` ``(variants, tokens, *shape)`` with each variant's positions (and head) taken from ``clean``."""
    value = value.clone()
    clean = clean.to(value.dtype)
    for row, variant in enumerate(batch):
        positions = list(variant.positions)
        if variant.head is None:
            value[row, positions] = clean[positions]
        else:
            value[row, positions, variant.head] = clean[positions, variant.head]
    return value


def patch_pair(
    run: CorruptedRun, sites: list[str], n_layer: int, positions: list[int], answer: int, wrong: int
) -> dict[tuple[str, int], np.ndarray]:
    """``(hook, layer) -> (variants,)`` logit differences of one pair, plus ``("clean", 0)`` and
    ``("corrupted", 0)``, the baselines through the same engine."""
    n_tokens = run.resid_pre[0].shape[0]
    n_heads = run.clean[block_site(0, HEAD_SITE)].shape[1] if HEAD_SITE in sites else 0
    everything, nothing = Variant(tuple(range(n_tokens))), Variant(())
    clean, corrupted = run.logit_diffs("hook_resid_pre", 0, [everything, nothing], answer, wrong)
    diffs = {("clean", 0): np.array([clean]), ("corrupted", 0): np.array([corrupted])}
    for hook in sites:
        for layer in range(n_layer):
            diffs[(hook, layer)] = run.logit_diffs(hook, layer, variants(hook, positions, n_heads), answer, wrong)
    return diffs


def patch_pairs(model: nn.Module, tokenizer, store, path, text_column: str, options: dict) -> dict[str, pd.DataFrame]:
    """``patching``, ``patching_by_pair`` and ``pairs`` tables of an instance (``options``: its options) over
    the pairs at ``path``, the clean activations read from the clean prompts' activation ``store``."""
    pairs = read_pairs(path, text_column, options)
    tokens = tokenize_pairs(pairs, tokenizer, options["answer_prefix"], path)
    positions = resolve_positions(options["positions"], tokens.n_tokens)
    n_layer = len(adapter_of(model).blocks(model))
    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    stored_sites = METHOD.required_sites(options, n_layer)  # the patched sites of every block, and block 0's input
    hooks = options["patch_sites"]
    per_pair = []
    for index in range(len(pairs.clean)):
        clean = clean_activations(store, index, tokens.clean[index], stored_sites, device, dtype)
        corrupted = torch.as_tensor(tokens.corrupted[index], device=device)
        run = CorruptedRun(model, corrupted, clean, options["batch_size"])
        answer, wrong = tokens.answers[index], tokens.wrong_answers[index]
        per_pair.append(patch_pair(run, hooks, n_layer, positions, answer, wrong))
    return {
        "patching": patching_table(per_pair, hooks, positions),
        "patching_by_pair": patching_by_pair_table(per_pair, hooks, positions),
        "pairs": pairs_table(pairs, per_pair),
    }

"""Attribution patching (AtP): activation patching's scores estimated from one backward pass per pair.

For a pair, the metric is activation patching's, the logit difference ``logit(answer) - logit(wrong
answer)`` at the last position, and patching the clean activation ``a_clean`` of a slot (a position of
a per-token site, a head of ``attn.hook_z`` at the patched positions, an MLP neuron there) into the
corrupted run is estimated to first order about the corrupted run::

    patched ≈ corrupted + (a_clean - a_corrupted) · ∂metric/∂a   (at the corrupted run)

(Nanda 2023; Kramár et al. 2024). One forward and one backward pass of the corrupted prompt give the
gradient at every site at once, so a pair costs two passes (and the clean activations, read from the
clean prompts' store) instead of one pass per patched slot. Where the metric is linear in a site from
there on the estimate is exact; elsewhere it is the derivative along the patch's direction, and
saturated nonlinearities (attention softmaxes, the final norm) make it miss: compare it with
activation patching on the same pairs (``activation_patching`` option).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from interpflow.circuits.clean_runs import clean_activations
from interpflow.circuits.patch_tables import (
    HEAD_SITE,
    PER_HEAD_SITES,
    pairs_table,
    patching_by_pair_table,
    patching_table,
)
from interpflow.models.architectures import adapter_of
from interpflow.models.hooks import block_arguments, capture, hooked, run_block
from interpflow.models.sites import block_site
from interpflow.stores.prompt_pairs import read_pairs, resolve_positions, tokenize_pairs

NEURON_SITE = "mlp.hook_post"


def metric_gradients(
    model: nn.Module, token_ids: torch.Tensor, sites: list[str], answer: int, wrong: int
) -> tuple[float, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One prompt's logit difference (the model's logits at the last position), and at every site its
    value and the gradient of the logit difference, ``(tokens, *shape)``."""
    values, probes = {}, {}

    def probe(site: str):
        def add_probe(value: torch.Tensor) -> torch.Tensor:
            values[site] = value[0].detach()
            probes[site] = torch.zeros_like(value, requires_grad=True)
            return value + probes[site]

        return add_probe

    with torch.enable_grad(), hooked(model, {site: probe(site) for site in sites}):
        logits = model(token_ids.unsqueeze(0), use_cache=False).logits[0, -1]
        metric = logits[answer] - logits[wrong]
        gradients = torch.autograd.grad(metric, [probes[site] for site in sites])
    return (
        float(metric.detach().double()),
        values,
        {site: gradient[0] for site, gradient in zip(sites, gradients, strict=True)},
    )


@torch.no_grad()
def logit_diff(model: nn.Module, token_ids: torch.Tensor, answer: int, wrong: int) -> float:
    logits = model(token_ids.unsqueeze(0), use_cache=False).logits[0, -1].double()
    return float(logits[answer] - logits[wrong])


def estimates(clean: torch.Tensor, corrupted: torch.Tensor, gradient: torch.Tensor, positions: list[int], hook: str):
    """``(slots,)`` float64 first-order changes of the logit difference, one per slot of a site: each
    position (per-token sites), each head (``attn.hook_z``, ``attn.hook_q``, ``attn.hook_k``: key-value heads
    where they are shared) or neuron (``mlp.hook_post``) summed over ``positions``."""
    terms = (clean.double().cpu() - corrupted.double().cpu()) * gradient.double().cpu()
    if hook in PER_HEAD_SITES:
        return terms[positions].sum(dim=(0, 2)).numpy()
    if hook == NEURON_SITE:
        return terms[positions].sum(dim=0).numpy()
    return terms[positions].sum(dim=-1).numpy()


def attribute_pair(
    model: nn.Module,
    clean: dict[str, torch.Tensor],
    clean_ids: torch.Tensor,
    corrupted_ids: torch.Tensor,
    hooks: list[str],
    n_layer: int,
    positions: list[int],
    answer: int,
    wrong: int,
    attention_fix: bool = True,
) -> dict[tuple[str, int], np.ndarray]:
    """``(hook, layer) -> (slots,)`` estimated logit differences of one pair (corrupted + estimate), plus
    ``("clean", 0)`` and ``("corrupted", 0)``: activation patching's per-pair form
    (:mod:`interpflow.circuits.patch_tables`). ``clean``: the clean prompt's ``(tokens, *shape)`` at every site.
    ``attention_fix``: queries and keys through :func:`attention_fixed_estimates` (AtP*)."""
    fixed = [hook for hook in QK_SITES if hook in hooks] if attention_fix else []
    probed = [*hooks, *([HEAD_SITE, "hook_resid_pre"] if fixed else [])]
    sites = list(dict.fromkeys(block_site(layer, hook) for hook in probed for layer in range(n_layer)))
    corrupted_diff, values, gradients = metric_gradients(model, corrupted_ids, sites, answer, wrong)
    diffs = {("clean", 0): np.array([logit_diff(model, clean_ids, answer, wrong)])}
    diffs[("corrupted", 0)] = np.array([corrupted_diff])
    for hook in hooks:
        for layer in range(n_layer):
            site = block_site(layer, hook)
            if hook in fixed:
                change = attention_fixed_estimates(
                    model, layer, hook, clean, values, gradients, corrupted_ids, positions
                )
            else:
                change = estimates(clean[site], values[site], gradients[site], positions, hook)
            diffs[(hook, layer)] = corrupted_diff + change
    return diffs


QK_SITES = ("attn.hook_q", "attn.hook_k")


@torch.no_grad()
def attention_fixed_estimates(
    model: nn.Module,
    layer: int,
    hook: str,
    clean: dict[str, torch.Tensor],
    values: dict[str, torch.Tensor],
    gradients: dict[str, torch.Tensor],
    corrupted_ids: torch.Tensor,
    positions: list[int],
) -> np.ndarray:
    """AtP*'s fix for saturated attention (Kramár et al. 2024): a head's query (or key) patch estimated by
    recomputing its block's attention exactly with the clean query (key) at ``positions``, then linearly
    from the heads' outputs on: ``(z_patched - z_corrupted) · ∂metric/∂z``, summed over the heads (those
    that share a key-value head all change). Each head's patch is one row of a batch that reruns block
    ``layer`` alone from its recorded input. ``(heads,)`` float64 changes of the logit difference."""
    site, z_site = block_site(layer, hook), block_site(layer, HEAD_SITE)
    n_slots = values[site].shape[1]
    residual = values[block_site(layer, "hook_resid_pre")].unsqueeze(0).repeat(n_slots, 1, 1)
    with block_arguments(model) as arguments:  # masks and positions for a batch of n_slots
        model.base_model(corrupted_ids.unsqueeze(0).expand(n_slots, -1), use_cache=False)

    def patch(value: torch.Tensor) -> torch.Tensor:
        value = value.clone()
        for slot in range(n_slots):
            value[slot, positions, slot] = clean[site][positions, slot].to(value.dtype)
        return value

    block = adapter_of(model).blocks(model)[layer]
    with hooked(model, {site: patch}), capture(model, [z_site]) as captured:
        run_block(block, residual, arguments[layer])
    change = (captured[z_site].double() - values[z_site].double().unsqueeze(0)) * gradients[z_site].double().unsqueeze(
        0
    )
    return change.sum(dim=(1, 2, 3)).cpu().numpy()


NEURON_COLUMNS = ["layer", "neuron", "logit_diff", "score"]


def neuron_table(per_pair: list[dict[tuple[str, int], np.ndarray]], n_layer: int) -> pd.DataFrame:
    """``neurons.parquet``: each MLP neuron's estimate at the patched positions, as ``patching.parquet``
    scores a slot: the pairs' mean ``logit_diff`` and its ``score`` against the mean clean and corrupted ones."""
    mean = {key: np.mean([pair[key] for pair in per_pair], axis=0) for key in per_pair[0]}
    clean, corrupted = float(mean[("clean", 0)][0]), float(mean[("corrupted", 0)][0])
    frames = []
    for layer in range(n_layer):
        values = mean[(NEURON_SITE, layer)]
        score = (values - corrupted) / (clean - corrupted) if clean != corrupted else np.full_like(values, np.nan)
        frames.append(
            pd.DataFrame({"layer": layer, "neuron": np.arange(len(values)), "logit_diff": values, "score": score})
        )
    return pd.concat(frames, ignore_index=True).astype({"layer": "int64", "neuron": "int64"})[NEURON_COLUMNS]


def attribute_pairs(
    model: nn.Module, tokenizer, store, path, text_column: str, options: dict
) -> dict[str, pd.DataFrame]:
    """``patching``, ``patching_by_pair``, ``pairs`` and ``neurons`` (no rows without ``neurons``) tables of an
    instance (``options``) over the pairs at ``path``: activation patching's tables, the patched logit
    differences estimated; the clean activations read from the clean prompts' ``store``."""
    pairs = read_pairs(path, text_column, options)
    tokens = tokenize_pairs(pairs, tokenizer, options["answer_prefix"], path)
    positions = resolve_positions(options["positions"], tokens.n_tokens)
    n_layer = len(adapter_of(model).blocks(model))
    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    hooks = options["patch_sites"] + ([NEURON_SITE] if options["neurons"] else [])
    sites = [block_site(layer, hook) for hook in hooks for layer in range(n_layer)]
    per_pair = []
    for index in range(len(pairs.clean)):
        clean = clean_activations(store, index, tokens.clean[index], sites, device, dtype)
        clean_ids, corrupted_ids = (
            torch.as_tensor(ids[index], device=device) for ids in (tokens.clean, tokens.corrupted)
        )
        answer, wrong = tokens.answers[index], tokens.wrong_answers[index]
        fix = options["attention_fix"]
        per_pair.append(
            attribute_pair(model, clean, clean_ids, corrupted_ids, hooks, n_layer, positions, answer, wrong, fix)
        )
    slots = options["patch_sites"]
    tables = {
        "patching": patching_table(per_pair, slots, positions),
        "patching_by_pair": patching_by_pair_table(per_pair, slots, positions),
        "pairs": pairs_table(pairs, per_pair),
    }
    empty = pd.DataFrame(
        {column: pd.Series(dtype="int64" if column in ("layer", "neuron") else "float64") for column in NEURON_COLUMNS}
    )
    tables["neurons"] = neuron_table(per_pair, n_layer) if options["neurons"] else empty
    return tables

"""Edge attribution patching (EAP, Syed et al. 2023): attribution patching for every edge of the model's graph.

The graph's sources are the components that write the residual stream: the embedding (``embed``,
``blocks.0.hook_resid_pre``), each head (``head``: its ``attn.hook_z`` through the output projection)
and each MLP (``mlp``: ``hook_mlp_out``). Its targets read it: each block's attention (``attn``: the
input of the norm in front of it, shared by its heads), each MLP (``mlp``: the input of its norm) and the
logits (``logits``: the residual entering the final norm). A source feeds every target after it: a
block's MLP reads its own attention's heads unless the block is parallel (GPT-NeoX with a parallel
residual). For a pair, with the metric of activation patching (the logit difference at the last
position) and its gradient at the corrupted run::

    edge(u → v) = Σ_tokens (out_u(clean) - out_u(corrupted)) · ∂metric/∂in_v

where ``∂metric/∂in_v`` is the gradient through ``v`` alone (a probe added at ``v``'s norm input, so the
residual path and the other targets are not counted). A head's output difference is read through its
layer's update function (the output projection, and Gemma 2's norm after it) by a vector-Jacobian
product, so its edges need no per-head output vectors. The edges into ``v`` sum to ``v``'s own input
attribution, ``(in_v(clean) - in_v(corrupted)) · ∂metric/∂in_v``, because ``in_v`` is the sum of the
outputs before it (exactly so where each update is linear in its heads: every family but Gemma 2, whose
head terms are first order through the norm after the attention).

Cost per pair: one corrupted forward and backward pass (probes at the 2 × n_layer + 1 targets), one clean
pass, and a vector-Jacobian product of each block's output projection per later target: time and memory
grow with the number of components (targets × tokens × d_model gradients), not with the edges × passes
that patching each edge would take.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from interpflow.circuits.patch_tables import pairs_table
from interpflow.methods.edge_attribution_patching.method import METHOD
from interpflow.models.architectures import Adapter, adapter_of
from interpflow.models.hooks import capture
from interpflow.models.sites import block_site
from interpflow.stores.prompt_pairs import read_pairs, tokenize_pairs

HEAD_SITE = "attn.hook_z"


@dataclass(frozen=True)
class Target:
    """What reads the residual: ``attn`` or ``mlp`` of block ``layer``, or the ``logits`` (``layer`` n_layer)."""

    kind: str
    layer: int


def targets(n_layer: int) -> list[Target]:
    return [Target(kind, layer) for layer in range(n_layer) for kind in ("attn", "mlp")] + [Target("logits", n_layer)]


def source_sites(n_layer: int) -> list[str]:
    """The sites whose clean and corrupted values make the sources' output differences."""
    return METHOD.required_sites({}, n_layer)


def target_module(adapter: Adapter, model: nn.Module, target: Target) -> nn.Module:
    """The module whose input is ``target``'s input: a block's norm, or the final norm."""
    if target.kind == "logits":
        return adapter.final_norm(model)
    block = adapter.blocks(model)[target.layer]
    return block.get_submodule(adapter.attention_norm_path if target.kind == "attn" else adapter.mlp_norm_path)


def metric_of(model: nn.Module, token_ids: torch.Tensor, answer: int, wrong: int) -> torch.Tensor:
    logits = model(token_ids.unsqueeze(0), use_cache=False).logits[0, -1]
    return logits[answer] - logits[wrong]


def corrupted_gradients(model: nn.Module, token_ids: torch.Tensor, answer: int, wrong: int):
    """The corrupted prompt's logit difference, its values at the source sites, and the gradient of the
    logit difference at each target's input through that target alone, ``(tokens, d_model)``."""
    adapter = adapter_of(model)
    n_layer = len(adapter.blocks(model))
    probes, handles = {}, []

    def add_probe(target: Target):
        def hook(module, args):
            probes[target] = torch.zeros_like(args[0], requires_grad=True)
            return (args[0] + probes[target], *args[1:])

        return hook

    try:
        for target in targets(n_layer):
            handles.append(target_module(adapter, model, target).register_forward_pre_hook(add_probe(target)))
        with torch.enable_grad(), capture(model, source_sites(n_layer)) as values:
            metric = metric_of(model, token_ids, answer, wrong)
            gradients = torch.autograd.grad(metric, list(probes.values()))
    finally:
        for handle in handles:
            handle.remove()
    grads = {target: gradient[0] for target, gradient in zip(probes, gradients, strict=True)}
    return float(metric.detach().double()), {site: value[0] for site, value in values.items()}, grads


def update_of_heads(adapter: Adapter, block: nn.Module):
    """The block's attention update as a function of its heads' ``attn.hook_z`` ``(tokens, heads, d_head)``:
    the output projection, and the norm after it where the family reads the update there (Gemma 2)."""
    projection = block.get_submodule(adapter.block_hook_point(block, HEAD_SITE).module)
    update_path = adapter.block_hook_point(block, "hook_attn_out").module
    post_norm = (
        None if update_path == adapter.block_hook_point(block, HEAD_SITE).module else block.get_submodule(update_path)
    )

    def update(z: torch.Tensor) -> torch.Tensor:
        projected = projection(z.flatten(-2))
        return projected if post_norm is None else post_norm(projected)

    return update


@dataclass(frozen=True)
class PairEdges:
    """One pair's edge terms (logit units, float64), by target: ``embed`` ``(targets,)``, ``heads``
    ``(targets, n_layer, n_head)``, ``mlps`` ``(targets, n_layer)``; NaN where the source is not before the
    target. ``clean`` and ``corrupted``: the pair's logit differences."""

    targets: list[Target]
    embed: np.ndarray
    heads: np.ndarray
    mlps: np.ndarray
    clean: float
    corrupted: float


def pair_edges(
    model: nn.Module,
    clean: dict[str, torch.Tensor],
    clean_ids: torch.Tensor,
    corrupted_ids: torch.Tensor,
    answer: int,
    wrong: int,
) -> PairEdges:
    """Every edge's term for one pair; ``clean``: the clean prompt's ``(tokens, *shape)`` at every source site."""
    adapter = adapter_of(model)
    blocks = adapter.blocks(model)
    n_layer = len(blocks)
    corrupted_diff, corrupted, gradients = corrupted_gradients(model, corrupted_ids, answer, wrong)
    with torch.no_grad():
        clean_diff = float(metric_of(model, clean_ids, answer, wrong).double())
    delta = {site: (clean[site].double() - corrupted[site].double()) for site in corrupted}
    order = targets(n_layer)
    n_head = corrupted[block_site(0, HEAD_SITE)].shape[1]
    embed = np.full(len(order), np.nan)
    heads = np.full((len(order), n_layer, n_head), np.nan)
    mlps = np.full((len(order), n_layer), np.nan)
    updates = [update_of_heads(adapter, block) for block in blocks]
    for index, target in enumerate(order):
        gradient = gradients[target].double()
        embed[index] = float((delta[block_site(0, "hook_resid_pre")] * gradient).sum())
        for layer in range(n_layer):
            reads_heads = layer < target.layer or (
                layer == target.layer and target.kind == "mlp" and adapter.mlp_reads_attention(blocks[layer])
            )
            if reads_heads:
                z = corrupted[block_site(layer, HEAD_SITE)].detach().requires_grad_(True)
                with torch.enable_grad():
                    (through,) = torch.autograd.grad(updates[layer](z), z, grad_outputs=gradients[target].to(z.dtype))
                heads[index, layer] = (
                    (delta[block_site(layer, HEAD_SITE)] * through.double()).sum(dim=(0, 2)).cpu().numpy()
                )
            if layer < target.layer:
                mlps[index, layer] = float((delta[block_site(layer, "hook_mlp_out")] * gradient).sum())
    return PairEdges(order, embed, heads, mlps, clean_diff, corrupted_diff)


EDGE_COLUMNS = ["source", "source_layer", "source_head", "target", "target_layer", "attribution", "score", "in_circuit"]


def edge_rows(edges: PairEdges):
    """``(source, source_layer, source_head, target, target_layer, attribution)`` of every edge of a pair."""
    for index, target in enumerate(edges.targets):
        layer = pd.NA if target.kind == "logits" else target.layer
        yield "embed", pd.NA, pd.NA, target.kind, layer, edges.embed[index]
        n_layer, n_head = edges.heads.shape[1:]
        for source_layer in range(n_layer):
            for head in range(n_head):
                if not np.isnan(edges.heads[index, source_layer, head]):
                    yield "head", source_layer, head, target.kind, layer, edges.heads[index, source_layer, head]
            if not np.isnan(edges.mlps[index, source_layer]):
                yield "mlp", source_layer, pd.NA, target.kind, layer, edges.mlps[index, source_layer]


def edge_table(per_pair: list[PairEdges], circuit_edges: int, threshold: float | None) -> pd.DataFrame:
    """``edges.parquet``: every edge's mean term over the pairs (``attribution``, logit units), its
    ``score`` (over the mean clean minus corrupted logit difference, as patching scores), and whether it is
    in the circuit: the ``circuit_edges`` largest by |score|, and only those with |score| ≥ ``threshold``."""
    columns = ["source", "source_layer", "source_head", "target", "target_layer", "attribution"]
    frames = [pd.DataFrame(list(edge_rows(edges)), columns=columns) for edges in per_pair]
    table = frames[0].drop(columns="attribution")
    table["attribution"] = np.mean([frame["attribution"].to_numpy(float) for frame in frames], axis=0)
    scale = np.mean([edges.clean for edges in per_pair]) - np.mean([edges.corrupted for edges in per_pair])
    table["score"] = table["attribution"] / scale if scale != 0 else np.nan
    ranked = table["score"].abs().rank(method="first", ascending=False)
    table["in_circuit"] = (ranked <= circuit_edges) & (table["score"].abs() >= (threshold or 0.0))
    types = {"source_layer": "Int64", "source_head": "Int64", "target_layer": "Int64"}
    return table.astype(types)[EDGE_COLUMNS]


def attribute_edges(
    model: nn.Module, tokenizer, store, path, text_column: str, options: dict
) -> dict[str, pd.DataFrame]:
    """``edges`` and ``pairs`` tables of an instance (``options``) over the pairs at ``path``, each clean
    prompt's source activations read from the text set's activation ``store``."""
    pairs = read_pairs(path, text_column, options)
    tokens = tokenize_pairs(pairs, tokenizer, options["answer_prefix"], path)
    n_layer = len(adapter_of(model).blocks(model))
    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    per_pair = []
    for index in range(len(pairs.clean)):
        rows = store.text_rows(index)
        if store.tokens["token_id"].to_numpy()[rows].tolist() != tokens.clean[index]:
            raise ValueError(f"pair {index}: the store's clean tokens differ from the text set's; rerun its extraction")
        clean = {site: torch.as_tensor(store[site][rows], device=device, dtype=dtype) for site in source_sites(n_layer)}
        clean_ids, corrupted_ids = (
            torch.as_tensor(ids[index], device=device) for ids in (tokens.clean, tokens.corrupted)
        )
        per_pair.append(
            pair_edges(model, clean, clean_ids, corrupted_ids, tokens.answers[index], tokens.wrong_answers[index])
        )
    baselines = [
        {("clean", 0): np.array([edges.clean]), ("corrupted", 0): np.array([edges.corrupted])} for edges in per_pair
    ]
    edges = edge_table(per_pair, options["circuit_edges"], options["threshold"])
    return {"edges": edges, "pairs": pairs_table(pairs, baselines)}

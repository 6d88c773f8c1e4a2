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

import contextlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from interpflow.circuits.clean_runs import clean_activations
from interpflow.circuits.patch_tables import pairs_table
from interpflow.methods.edge_attribution_patching.method import METHOD
from interpflow.models.architectures import Adapter, Heads, adapter_of
from interpflow.models.hooks import capture, hooked, site_access
from interpflow.models.sites import block_site
from interpflow.stores.prompt_pairs import read_pairs, tokenize_pairs

HEAD_SITE = "attn.hook_z"


HEAD_INPUTS = ("q", "k", "v")


@dataclass(frozen=True)
class Target:
    """What reads the residual: ``attn`` or ``mlp`` of block ``layer``, the ``logits`` (``layer`` n_layer), or
    with per-head inputs one head's ``q``, ``k`` or ``v`` input (``head``: a query head, or a key-value head)."""

    kind: str
    layer: int
    head: int | None = None


def targets(n_layer: int, heads: dict[str, int] | None = None) -> list[Target]:
    """Every target in order of depth; ``heads`` (``q``, ``k``, ``v`` -> heads of each) splits each block's
    attention into its heads' query, key and value inputs."""
    order = []
    for layer in range(n_layer):
        if heads is None:
            order.append(Target("attn", layer))
        else:
            order += [Target(kind, layer, head) for kind in HEAD_INPUTS for head in range(heads[kind])]
        order.append(Target("mlp", layer))
    return [*order, Target("logits", n_layer)]


def source_sites(n_layer: int) -> list[str]:
    """The sites whose clean and corrupted values make the sources' output differences."""
    return METHOD.required_sites({}, n_layer)


def target_module(adapter: Adapter, model: nn.Module, target: Target) -> nn.Module:
    """The module whose input is ``target``'s input: a block's norm, or the final norm."""
    if target.kind == "logits":
        return adapter.final_norm(model)
    block = adapter.blocks(model)[target.layer]
    return block.get_submodule(adapter.mlp_norm_path if target.kind == "mlp" else adapter.attention_norm_path)


def metric_of(model: nn.Module, token_ids: torch.Tensor, answer: int, wrong: int) -> torch.Tensor:
    logits = model(token_ids.unsqueeze(0), use_cache=False).logits[0, -1]
    return logits[answer] - logits[wrong]


def head_counts(model: nn.Module) -> dict[str, int]:
    heads = Heads.of(model.config)
    return {"q": heads.n_heads, "k": heads.n_kv_heads, "v": heads.n_kv_heads}


def corrupted_gradients(model: nn.Module, token_ids: torch.Tensor, answer: int, wrong: int, head_inputs: bool = False):
    """The corrupted prompt's logit difference, its values at the source sites, and the gradient of the
    logit difference at each target's input through that target alone, ``(tokens, d_model)``; with
    ``head_inputs``, each head's query, key and value input in place of each block's attention."""
    adapter = adapter_of(model)
    n_layer = len(adapter.blocks(model))
    probes, inputs, handles = {}, {}, []

    def add_probe(target: Target):
        def hook(module, args):
            inputs[target] = args[0][0].detach()
            probes[target] = torch.zeros_like(args[0], requires_grad=True)
            return (args[0] + probes[target], *args[1:])

        return hook

    head_sites = [block_site(layer, f"attn.hook_{kind}") for layer in range(n_layer) for kind in HEAD_INPUTS]
    site_probes = {}

    def add_site_probe(site: str):
        def hook(value):
            site_probes[site] = torch.zeros_like(value, requires_grad=True)
            return value + site_probes[site]

        return hook

    try:
        for target in targets(n_layer):
            handles.append(target_module(adapter, model, target).register_forward_pre_hook(add_probe(target)))
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.enable_grad())
            values = stack.enter_context(capture(model, source_sites(n_layer)))
            if head_inputs:
                stack.enter_context(hooked(model, {site: add_site_probe(site) for site in head_sites}))
            metric = metric_of(model, token_ids, answer, wrong)
            leaves = list(probes.values()) + ([site_probes[site] for site in head_sites] if head_inputs else [])
            gradients = torch.autograd.grad(metric, leaves)
    finally:
        for handle in handles:
            handle.remove()
    grads = {target: gradient[0] for target, gradient in zip(probes, gradients[: len(probes)], strict=True)}
    if head_inputs:
        at_sites = dict(zip(head_sites, (gradient[0] for gradient in gradients[len(probes) :]), strict=True))
        for layer in range(n_layer):
            del grads[Target("attn", layer)]
            grads |= head_input_gradients(model, layer, inputs[Target("attn", layer)], at_sites)
    return float(metric.detach().double()), {site: value[0] for site, value in values.items()}, grads


def head_input_gradients(model: nn.Module, layer: int, x: torch.Tensor, at_sites: dict[str, torch.Tensor]) -> dict:
    """Each head's query, key and value input gradient in block ``layer``: the gradient at its ``attn.hook_q``
    (``k``, ``v``) slice pulled back through the projection and the norm, at the corrupted input ``x``.
    Together they are the attention input's gradient: the attention reads its input only through them."""
    adapter = adapter_of(model)
    norm = adapter.blocks(model)[layer].get_submodule(adapter.attention_norm_path)
    grads = {}
    for kind in HEAD_INPUTS:
        site = block_site(layer, f"attn.hook_{kind}")
        access = site_access(model, site)
        point = x.detach().unsqueeze(0).requires_grad_(True)
        with torch.enable_grad():
            raw = access.module(norm(point))
            value = access.read(raw[access.element] if isinstance(raw, tuple) else raw)  # (1, tokens, heads, d_head)
            for head in range(value.shape[2]):
                cotangent = torch.zeros_like(value)
                cotangent[0, :, head] = at_sites[site][:, head]
                (gradient,) = torch.autograd.grad(value, point, grad_outputs=cotangent, retain_graph=True)
                grads[Target(kind, layer, head)] = gradient[0]
    return grads


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
    head_inputs: bool = False,
) -> PairEdges:
    """Every edge's term for one pair; ``clean``: the clean prompt's ``(tokens, *shape)`` at every source site."""
    adapter = adapter_of(model)
    blocks = adapter.blocks(model)
    n_layer = len(blocks)
    corrupted_diff, corrupted, gradients = corrupted_gradients(model, corrupted_ids, answer, wrong, head_inputs)
    with torch.no_grad():
        clean_diff = float(metric_of(model, clean_ids, answer, wrong).double())
    delta = {site: (clean[site].double() - corrupted[site].double()) for site in corrupted}
    order = targets(n_layer, head_counts(model) if head_inputs else None)
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


EDGE_COLUMNS = ["source", "source_layer", "source_head", "target", "target_layer", "target_head"]
EDGE_COLUMNS += ["attribution", "score", "in_circuit"]


def edge_rows(edges: PairEdges):
    """``(source, source_layer, source_head, target, target_layer, target_head, attribution)`` of every edge of
    a pair."""
    for index, target in enumerate(edges.targets):
        into = (
            target.kind,
            pd.NA if target.kind == "logits" else target.layer,
            pd.NA if target.head is None else target.head,
        )
        yield "embed", pd.NA, pd.NA, *into, edges.embed[index]
        n_layer, n_head = edges.heads.shape[1:]
        for source_layer in range(n_layer):
            for head in range(n_head):
                if not np.isnan(edges.heads[index, source_layer, head]):
                    yield "head", source_layer, head, *into, edges.heads[index, source_layer, head]
            if not np.isnan(edges.mlps[index, source_layer]):
                yield "mlp", source_layer, pd.NA, *into, edges.mlps[index, source_layer]


def edge_table(per_pair: list[PairEdges], circuit_edges: int, threshold: float | None) -> pd.DataFrame:
    """``edges.parquet``: every edge's mean term over the pairs (``attribution``, logit units), its
    ``score`` (over the mean clean minus corrupted logit difference, as patching scores), and whether it is
    in the circuit: the ``circuit_edges`` largest by |score|, and only those with |score| ≥ ``threshold``."""
    columns = [*EDGE_COLUMNS[:6], "attribution"]
    frames = [pd.DataFrame(list(edge_rows(edges)), columns=columns) for edges in per_pair]
    table = frames[0].drop(columns="attribution")
    table["attribution"] = np.mean([frame["attribution"].to_numpy(float) for frame in frames], axis=0)
    scale = np.mean([edges.clean for edges in per_pair]) - np.mean([edges.corrupted for edges in per_pair])
    table["score"] = table["attribution"] / scale if scale != 0 else np.nan
    ranked = table["score"].abs().rank(method="first", ascending=False)
    table["in_circuit"] = (ranked <= circuit_edges) & (table["score"].abs() >= (threshold or 0.0))
    types = {"source_layer": "Int64", "source_head": "Int64", "target_layer": "Int64", "target_head": "Int64"}
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
        clean = clean_activations(store, index, tokens.clean[index], source_sites(n_layer), device, dtype)
        clean_ids, corrupted_ids = (
            torch.as_tensor(ids[index], device=device) for ids in (tokens.clean, tokens.corrupted)
        )
        answer, wrong = tokens.answers[index], tokens.wrong_answers[index]
        per_pair.append(pair_edges(model, clean, clean_ids, corrupted_ids, answer, wrong, options["head_inputs"]))
    baselines = [
        {("clean", 0): np.array([edges.clean]), ("corrupted", 0): np.array([edges.corrupted])} for edges in per_pair
    ]
    edges = edge_table(per_pair, options["circuit_edges"], options["threshold"])
    return {"edges": edges, "pairs": pairs_table(pairs, baselines)}

"""Figures of edge_attribution_patching: the circuit as a graph of the model's components, by depth."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd

from interpflow.plotting.style import DIVERGING_CMAP, FULL_WIDTH


def source_node(row) -> str:
    return {"embed": "embed", "head": f"L{row.source_layer}H{row.source_head}", "mlp": f"MLP{row.source_layer}"}[
        row.source
    ]


def target_node(row, kv_heads_are_heads: bool = True) -> str:
    """A target's node: a head's query input is its head; a key or value input too, unless heads share
    key-value heads (grouped-query attention), then its block's attention input."""
    if row.target == "q" or (row.target in ("k", "v") and kv_heads_are_heads):
        return f"L{row.target_layer}H{row.target_head}"
    if row.target in ("attn", "k", "v"):
        return f"attn{row.target_layer}"
    return {"mlp": f"MLP{row.target_layer}", "logits": "logits"}[row.target]


def layout(n_layer: int, n_head: int) -> dict[str, tuple[float, float]]:
    """Every node's place: the embedding at the bottom, each block's attention input, heads and MLP above
    the previous block's, the logits on top."""
    places = {"embed": (0.0, 0.0), "logits": (0.0, 3.0 * n_layer + 1)}
    for layer in range(n_layer):
        base = 3.0 * layer + 1
        places[f"attn{layer}"] = (-(n_head + 1) / 2, base)
        for head in range(n_head):
            places[f"L{layer}H{head}"] = (head - (n_head - 1) / 2, base + 1)
        places[f"MLP{layer}"] = ((n_head + 1) / 2, base + 2)
    return places


def circuit_figure(table: pd.DataFrame):
    """The circuit's edges (``in_circuit``) between the model's components, coloured by score (red: towards
    the clean answer), width by |score|; every component drawn, those in the circuit dark."""
    n_layer = int(table["target_layer"].max()) + 1
    n_head = int(table["source_head"].max()) + 1
    places = layout(n_layer, n_head)
    circuit = table[table["in_circuit"]]
    graph = nx.DiGraph()
    graph.add_nodes_from(places)
    keys = table.loc[table["target"] == "k", "target_head"]
    kv_heads_are_heads = keys.empty or int(keys.max()) + 1 == n_head
    for row in circuit.itertuples():
        graph.add_edge(source_node(row), target_node(row, kv_heads_are_heads), score=float(row.score))
    limit = float(circuit["score"].abs().max()) if len(circuit) else 1.0
    fig, ax = plt.subplots(figsize=(FULL_WIDTH * 0.6, min(2.0 + 0.9 * n_layer, 16)))
    used = {node for edge in graph.edges for node in edge}
    colours = ["0.15" if node in used else "0.8" for node in graph.nodes]
    nx.draw_networkx_nodes(graph, places, ax=ax, node_size=120, node_color=colours)
    above = {node: (x, y + 0.3) for node, (x, y) in places.items()}
    nx.draw_networkx_labels(
        graph, above, ax=ax, labels={node: node for node in used}, font_size=6, verticalalignment="bottom"
    )
    cmap, norm = mpl.colormaps[DIVERGING_CMAP], mpl.colors.Normalize(-limit, limit)
    scores = np.array([graph.edges[edge]["score"] for edge in graph.edges])
    nx.draw_networkx_edges(
        graph,
        places,
        ax=ax,
        edge_color=[cmap(norm(score)) for score in scores],
        width=list(0.5 + 3.5 * np.abs(scores) / limit),
        arrows=True,
        arrowsize=8,
        connectionstyle="arc3,rad=0.08",
    )
    fig.colorbar(mpl.cm.ScalarMappable(norm, cmap), ax=ax, fraction=0.04, pad=0.01, label="edge score")
    ax.set_title(f"The circuit: {len(circuit)} edges of {len(table)}")
    ax.axis("off")
    fig.tight_layout()
    return fig

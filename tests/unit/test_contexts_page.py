"""The top-contexts page: which latents it shows, in what order, and text escaped."""

from __future__ import annotations

import re

import pandas as pd

from interpflow.methods.streaming_sae.figures import contexts_page

LATENTS = pd.DataFrame(
    {
        "latent": [0, 1, 2, 3],
        "density": [0.1, 0.0, 0.3, 0.2],
        "mean_activation": [1.5, 0.0, 0.5, 2.5],
        "food_score": [0.0, 0.0, 2.0, 1.0],
    }
)
CONTEXTS = pd.DataFrame(
    {
        "latent": [2, 2, 3],
        "rank": [1, 0, 0],
        "activation": [0.4, 0.9, 2.5],
        "shard": [3, 3, 3],
        "window": [0, 1, 2],
        "position": [4, 5, 6],
        "before": ["a <b>", "x ", "<script>"],
        "token": [" cheese", " bread", " & tea"],
        "after": [" and", ".", "</script>"],
    }
)
EVALUATION = pd.DataFrame({"tokens": [100], "fvu": [0.25], "mse": [0.01], "l0": [8.0], "dead_fraction": [0.25]})


def rows(page: str) -> list[str]:
    return re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1])


def test_the_densest_latents_that_fire_are_shown_densest_first():
    page = contexts_page(LATENTS, CONTEXTS, EVALUATION, "run", max_latents=2)
    shown = [int(re.search(r'data-value="(\d+)"', row).group(1)) for row in rows(page)]
    assert shown == [2, 3]  # latent 1 never fires; latent 0 is cut by max_latents
    assert contexts_page(LATENTS, CONTEXTS, EVALUATION, "run", max_latents=10).count("<tr>") == 1 + 3


def test_contexts_are_in_rank_order_with_the_token_marked_and_text_escaped():
    page = contexts_page(LATENTS, CONTEXTS, EVALUATION, "run", max_latents=10)
    first = rows(page)[0]
    assert first.index("<mark> bread</mark>") < first.index("<mark> cheese</mark>")
    assert "a &lt;b&gt;" in first and "<b>" not in first
    assert "&lt;script&gt;<mark> &amp; tea</mark>&lt;/script&gt;" in rows(page)[1]
    assert page.count("<script>") == 1  # the page's own sorting script only


def test_every_statistic_has_a_sortable_header_and_numeric_cells():
    page = contexts_page(LATENTS, CONTEXTS, EVALUATION, "run", max_latents=10)
    headers = re.findall(r'<th data-sortable data-column="(\d)">(.*?)</th>', page)
    assert headers == [("0", "latent"), ("1", "density"), ("2", "mean activation"), ("3", "food score")]
    values = re.findall(r'<td class="number" data-value="([^"]+)">', rows(page)[0])
    assert [float(value) for value in values] == [2, 0.3, 0.5, 2.0]
    assert "fvu 0.25" in page and "dead_fraction 0.25" in page

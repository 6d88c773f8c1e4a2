"""The report's HTML view of a table: every row up to the limit, and a note when it stops short."""

import pandas as pd

from interpflow.plotting.table_view import table_page


def test_small_table_is_shown_whole():
    frame = pd.DataFrame({"layer": [0, 1, 2], "pearson_r": [0.5, 0.25, 1 / 3]})
    page = table_page(frame, "residual_decomposition: correlations (gpt2)")
    assert page.count("</tr>") == 4  # header and three rows
    assert (
        "3 rows" in page and "0.333333" in page and "<title>residual_decomposition: correlations (gpt2)</title>" in page
    )


def test_long_table_is_cut_with_a_note():
    page = table_page(pd.DataFrame({"latent": range(5000)}), "latents", max_rows=100)
    assert page.count("</tr>") == 101
    assert "first 100 of 5,000 rows; the full table is the Parquet file" in page


def test_title_is_escaped():
    assert "<title>a &lt;b&gt;</title>" in table_page(pd.DataFrame({"x": [1]}), "a <b>")

"""Where the words of a category occur among a text's tokens: the one matcher of both SAE methods.

A word matches as it is written after a space (``" " + word``): a run of consecutive tokens that
starts and ends at token boundaries, spells it exactly (one token or several), and is not continued
by a letter or digit (``" Hungary"`` in ``" Hungarian"`` is not one). Occurrences may overlap.
"""

from __future__ import annotations

import re

import numpy as np


def category_positions(tokens: list[str], words: list[str]) -> np.ndarray:
    """Boolean ``(tokens,)``: True on every token of each occurrence of one of ``words``.

    ``tokens``: the decoded strings of consecutive tokens (one text, or one window of a corpus)."""
    text = "".join(tokens)
    starts = np.cumsum([0, *(len(token) for token in tokens)])  # character offset of each token boundary
    marked = np.zeros(len(tokens), dtype=bool)
    for word in words:
        spelled = " " + word
        # A lookahead finds every start, overlapping ones included; (?![^\W_]): no letter or digit next.
        for match in re.finditer(f"(?={re.escape(spelled)}(?![^\\W_]))", text):
            first = np.searchsorted(starts, match.start())
            last = np.searchsorted(starts, match.start() + len(spelled))
            if starts[first] == match.start() and last < len(starts) and starts[last] == match.start() + len(spelled):
                marked[first:last] = True
    return marked

"""The tokens each SAE latent's decoder direction raises and lowers most, through the unembedding
(SAEDashboard's and Neuronpedia's positive and negative logits, ``W_dec · W_U``)."""

from __future__ import annotations

import pandas as pd
import torch

LOGIT_COLUMNS = ["latent", "direction", "rank", "token_id", "token", "logit"]


@torch.no_grad()
def logit_tokens(
    W_dec: torch.Tensor, unembedding, vocabulary: list[str], n: int, chunk_latents: int = 1024
) -> pd.DataFrame:
    """:data:`LOGIT_COLUMNS`: per latent (a row of ``W_dec`` ``(latents, d_model)``), the ``n`` tokens of largest
    (``direction`` ``top``) and of smallest (``bottom``) direct logit effect (``unembedding.logits``), ``rank`` 0
    the most extreme; computed ``chunk_latents`` latents at a time."""
    frames = []
    for start in range(0, len(W_dec), chunk_latents):
        logits = unembedding.logits(W_dec[start : start + chunk_latents])
        for direction, largest in (("top", True), ("bottom", False)):
            values, ids = logits.topk(n, dim=1, largest=largest)
            latent = torch.arange(start, start + len(logits))[:, None].expand_as(ids)
            frames.append(
                pd.DataFrame(
                    {
                        "latent": latent.reshape(-1).numpy(),
                        "direction": direction,
                        "rank": torch.arange(n).repeat(len(logits)).numpy(),
                        "token_id": ids.reshape(-1).cpu().numpy(),
                        "logit": values.reshape(-1).double().cpu().numpy(),
                    }
                )
            )
    table = pd.concat(frames, ignore_index=True).sort_values(["latent", "direction", "rank"], ignore_index=True)
    table["token"] = [vocabulary[i] for i in table["token_id"]]
    return table[LOGIT_COLUMNS]

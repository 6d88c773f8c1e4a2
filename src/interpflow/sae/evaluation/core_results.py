"""An SAE's evaluation as SAEBench writes its "core" result (``eval_results/core/<release>_<sae>_eval_results.json``),
so the tools that read those files read interpflow's.

The metrics are the evaluation table's (:mod:`interpflow.sae.evaluation.metrics`,
:mod:`interpflow.sae.evaluation.spliced`) under SAEBench's categories; ``eval_config`` says which tokens
they were measured on. The file holds no clock time and a deterministic ``eval_id``, so the same evaluation
writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from numbers import Integral
from typing import Any

from interpflow.sae.core.peers import SAELENS_VERSION

CORE_CATEGORIES: dict[str, dict[str, str]] = {  # category -> {SAEBench name: evaluation column}
    "model_behavior_preservation": {
        "kl_div_score": "kl_div_score",
        "kl_div_with_ablation": "kl_div_with_ablation",
        "kl_div_with_sae": "kl_div_with_sae",
    },
    "model_performance_preservation": {
        "ce_loss_score": "ce_loss_score",
        "ce_loss_with_ablation": "ce_loss_with_ablation",
        "ce_loss_with_sae": "ce_loss_with_sae",
        "ce_loss_without_sae": "ce_loss_without_sae",
    },
    "reconstruction_quality": {"explained_variance": "explained_variance", "mse": "mse", "cossim": "cossim"},
    "shrinkage": {
        "l2_norm_in": "l2_norm_in",
        "l2_norm_out": "l2_norm_out",
        "l2_ratio": "l2_ratio",
        "relative_reconstruction_bias": "relative_reconstruction_bias",
    },
    "sparsity": {"l0": "l0", "l1": "l1"},
    # SAEBench counts every token of the windows evaluated, special tokens included (the means skip them);
    # both of its passes read the same held-out windows here
    "token_stats": {
        "total_tokens_eval_reconstruction": "spliced_tokens",
        "total_tokens_eval_sparsity_variance": "spliced_tokens",
    },
    "misc_metrics": {"frac_alive": "frac_alive"},
}


# What the numbers are, in the file itself: the peer functions they equal (tests/unit/test_sae_core_evaluation.py)
METRIC_DEFINITIONS = (
    f"sae_lens {SAELENS_VERSION}: evals.get_recons_loss (ce_loss_*, kl_div_*; means over the positions whose "
    "token is not special) and evals.get_sparsity_and_variance_metrics (reconstruction, shrinkage, sparsity; "
    "special tokens ignored; relative_reconstruction_bias over all tokens at once); token_stats as SAEBench's "
    "core evaluation counts them (docs/sae-evaluation.md)"
)


def core_result(evaluation: dict[str, Any], eval_config: dict[str, Any], sae_id: str, release: str) -> dict[str, Any]:
    """The core result of one SAE from its evaluation row (column -> value) and how it was evaluated."""
    metrics = {
        category: {name: _plain(evaluation[column]) for name, column in names.items()}
        for category, names in CORE_CATEGORIES.items()
    }
    eval_config = eval_config | {"metric_definitions": METRIC_DEFINITIONS}
    identity = json.dumps([release, sae_id, eval_config, metrics], sort_keys=True, allow_nan=True)
    return {
        "eval_type_id": "core",
        "eval_config": eval_config,
        "eval_id": hashlib.sha256(identity.encode()).hexdigest()[:32],
        "datetime_epoch_millis": None,
        "eval_result_metrics": metrics,
        "eval_result_details": [],
        "eval_result_unstructured": None,
        "sae_bench_commit_hash": None,
        "sae_lens_id": sae_id,
        "sae_lens_release_id": release,
        "sae_lens_version": SAELENS_VERSION,
        "sae_cfg_dict": None,
    }


def _plain(value):
    """A JSON number (NaN as null, as SAEBench's pydantic models write it)."""
    value = int(value) if isinstance(value, Integral) else float(value)
    return None if value != value else value

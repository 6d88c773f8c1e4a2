"""The releases of the field's libraries whose formats and metric definitions interpflow's SAEs follow.

The tests check each against the installed library (``tests/unit/test_saelens_export.py``,
``tests/unit/test_sae_core_evaluation.py``); the files that follow a format or a definition record the release.
"""

SAELENS_VERSION = "6.54.12"  # the SAELens folder format, and get_recons_loss / get_sparsity_and_variance_metrics

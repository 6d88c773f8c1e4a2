"""What an SAE is measured by.

- :mod:`~interpflow.sae.evaluation.metrics`: reconstruction, sparsity and latent statistics, accumulated over
  blocks of tokens (``evaluation.parquet``, ``latents.parquet``, activation histograms);
- :mod:`~interpflow.sae.evaluation.spliced`: the model's loss with the SAE's reconstruction spliced in, and
  with the site zeroed (SAEBench's core downstream metrics);
- :mod:`~interpflow.sae.evaluation.core_results`: the evaluation as SAEBench's core result file;
- :mod:`~interpflow.sae.evaluation.logit_tokens`: the tokens each latent's decoder direction raises and lowers
  most through the unembedding.
"""

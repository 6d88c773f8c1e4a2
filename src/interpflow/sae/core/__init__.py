"""The SAE itself, what both SAE methods train.

- :mod:`~interpflow.sae.core.config`: :class:`SAEConfig`, what defines an SAE (variant, site, shape, loss
  weights, learning rate, seed), saved beside its weights.
- :mod:`~interpflow.sae.core.variants`: the variants by name (:data:`VARIANTS`): how each is built, scored
  and constrained; :mod:`~interpflow.sae.core.tied_ksparse` (the lecture's), :mod:`~interpflow.sae.core.topk`
  and :mod:`~interpflow.sae.core.batch_topk`.
- :mod:`~interpflow.sae.core.sparse_topk`: the TopK step over the active latents only.
- :mod:`~interpflow.sae.core.training`: the one training loop, its log and checkpoints; full batch on a
  text's activations.
- :mod:`~interpflow.sae.core.streaming`: minibatches from a corpus store, with resume.

Nothing here reads or writes another library's format, or evaluates an SAE.
"""

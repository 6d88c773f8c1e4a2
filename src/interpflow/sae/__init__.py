"""Sparse autoencoders (SAEs): one core for both SAE methods.

- :mod:`~interpflow.sae.config`: :class:`SAEConfig`, what defines an SAE (variant, site, shape, loss weights,
  learning rate, seed), saved beside its weights.
- :mod:`~interpflow.sae.variants`: the variants by name (:data:`VARIANTS`): how each is built, scored and
  constrained; :mod:`~interpflow.sae.tied_ksparse` (the lecture's) and :mod:`~interpflow.sae.topk`.
- :mod:`~interpflow.sae.training`: the one training loop, its log (:data:`LOG_COLUMNS`) and checkpoints;
  full batch on a text's activations (:func:`train_full_batch`).
- :mod:`~interpflow.sae.streaming`: minibatches from a corpus store, with resume (:func:`train_streaming`).
- :mod:`~interpflow.sae.metrics`: reconstruction and latent statistics, accumulated over blocks of tokens.
- :mod:`~interpflow.sae.files`: the save format, ``sae.safetensors`` + ``sae_config.json``.
- :mod:`~interpflow.sae.saelens`: a saved SAE as a SAELens folder.
- Pretrained SAEs read as inputs: :mod:`~interpflow.sae.pretrained_formats` (what a SAELens or sparsify folder
  says, light), :mod:`~interpflow.sae.pretrained` (the module that reads interpflow's activations as the SAE
  was trained), :mod:`~interpflow.sae.pretrained_entries` (the config's ``saes`` entries and provisioning).
"""

"""Sparse autoencoders (SAEs): one core for both SAE methods, the ways in and out, and their evaluation.

Three rooms, and the save format of a run's SAEs above them:

- :mod:`~interpflow.sae.core`: the SAE itself: its config, the variants, the training loop (full batch and
  streaming, with resume) and the sparse TopK step.
- :mod:`~interpflow.sae.interop`: the ways in and out: every SAE as a SAELens folder, its latents in
  Neuronpedia's layout, and SAELens and sparsify SAEs read as inputs.
- :mod:`~interpflow.sae.evaluation`: what an SAE is measured by: reconstruction and latent statistics, the
  model's loss with the SAE spliced in, SAEBench's core result file, each latent's logit tokens.
- :mod:`~interpflow.sae.files`: the save format of every SAE of a run, trained (core) or imported
  (interop): ``sae.safetensors`` + ``sae_config.json``.

``interop`` and ``evaluation`` use the core and never each other; the core uses neither (import-linter's
contracts in ``pyproject.toml``).
"""

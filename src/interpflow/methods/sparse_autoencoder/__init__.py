"""sparse_autoencoder: what the latents of a k-sparse autoencoder on MLP neurons respond to.

``method`` is its contract with the workflow (light: imported while the DAG is built); the stages
import ``analysis``, ``comparison``, ``figures``.
"""

"""streaming_sae: sparse autoencoders trained on a corpus's sharded activation store.

``method`` is its contract with the workflow (light: imported while the DAG is built); the stages
import ``comparison``, ``evaluation``, ``figures``.
"""

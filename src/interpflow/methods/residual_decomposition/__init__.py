"""residual_decomposition: a block's output is its input plus the attention and MLP updates.

``method`` is its contract with the workflow (light: imported while the DAG is built); the stages
import ``analysis``, ``comparison``, ``figures``.
"""

"""neuron_contrast: MLP neurons whose activation at a target word tells two groups of texts apart.

``method`` is its contract with the workflow (light: imported while the DAG is built); the stages
import ``analysis``, ``comparison``, ``figures``.
"""

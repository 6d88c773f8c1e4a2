"""subspace_removal: remove the top singular component(s) of MLP neurons and measure the effect downstream.

``method`` is its contract with the workflow (light: imported while the DAG is built); the stages
import ``analysis``, ``comparison``, ``figures``, ``interventions``, ``subspace``.
"""

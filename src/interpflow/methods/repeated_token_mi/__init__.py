"""repeated_token_mi: information shared by the vectors of a repeated token, by distance and layer.

``method`` is its contract with the workflow (light: imported while the DAG is built); the stages
import ``analysis``, ``comparison``, ``figures``, ``mutual_information``.
"""

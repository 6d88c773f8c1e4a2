"""attribution_patching: activation patching's scores estimated from gradients, one backward pass per pair.

``method`` is its contract with the workflow (light: imported while the DAG is built); the stage imports
``gradients``, the figures ``figures``, the comparison ``comparison``.
"""

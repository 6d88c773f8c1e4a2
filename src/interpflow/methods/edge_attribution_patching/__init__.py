"""edge_attribution_patching: attribution patching for every edge between components; the circuit its largest edges.

``method`` is its contract with the workflow (light: imported while the DAG is built); the stage imports
``edges``, the figure ``figures``, the comparison ``comparison``.
"""

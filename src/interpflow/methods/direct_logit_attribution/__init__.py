"""direct_logit_attribution: each head's, MLP's and neuron's direct share of the answer's logit difference.

``method`` is its contract with the workflow (light: imported while the DAG is built); the stage imports
``attribution`` and ``tables``, the plots ``figures`` and ``comparison``.
"""

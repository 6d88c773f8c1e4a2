"""One module per analysis: its statistics and what it needs from the activation store.

Kept free of imports so that a stage importing one analysis does not depend on the others
(the workflow reruns a stage when a package module it imports changes).
"""

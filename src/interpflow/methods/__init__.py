"""One module per method: the sites an instance needs, its config checks, its statistics and its
comparison table.

Kept free of imports so that a stage importing one method does not depend on the others
(the workflow reruns a stage when a package module it imports changes).
"""

"""One package per method: ``methods/<name>/`` holds everything the method knows.

``method`` (its :class:`~interpflow.methods.contract.Method`, what the workflow asks while it builds the
DAG), its computation, its ``figures`` and its ``comparison``. Kept free of imports so that a stage
importing one method depends on no other (the workflow reruns a stage when a package module it imports
changes).
"""

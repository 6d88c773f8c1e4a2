"""interpflow: reproducible mechanistic-interpretability analyses of GPT-2, as one Snakemake DAG.

The package holds the logic; the workflow's scripts only read inputs, call it and write outputs.
"""

__version__ = "0.1.0"

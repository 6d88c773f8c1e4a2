"""Figures: one module per analysis, sharing :mod:`interpflow.plotting.style`."""

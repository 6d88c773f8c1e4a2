"""Mutual information between two activation vectors, treated as paired samples of (x, y).

Two estimators:

- :func:`trimmed_histogram_mutual_information`: plug-in estimate from a 2-D histogram, in **bits**,
  after dropping the points where either z-scored variable exceeds a threshold;
- :func:`knn_mutual_information`: scikit-learn's k-nearest-neighbour estimator
  (``mutual_info_regression``), in **nats**, seeded.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_selection import mutual_info_regression


def outlier_mask(x: np.ndarray, y: np.ndarray, threshold: float) -> np.ndarray:
    """True where ``|z(x)| > threshold`` or ``|z(y)| > threshold`` (z with ddof=1); none if threshold is 0."""
    if threshold == 0:
        return np.zeros(len(x), dtype=bool)
    zx = (x - x.mean()) / x.std(ddof=1)
    zy = (y - y.mean()) / y.std(ddof=1)
    return (np.abs(zx) > threshold) | (np.abs(zy) > threshold)


def entropy_bits(probabilities: np.ndarray) -> float:
    """Shannon entropy in bits of a probability array (zero cells contribute nothing)."""
    p = probabilities[probabilities > 0]
    return float(-(p * np.log2(p)).sum())


def histogram_mutual_information(x: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """``H(x) + H(y) - H(x, y)`` in bits, from a ``bins x bins`` histogram of the paired values."""
    joint, _, _ = np.histogram2d(x, y, bins=bins)
    joint = joint / joint.sum()
    return entropy_bits(joint.sum(axis=1)) + entropy_bits(joint.sum(axis=0)) - entropy_bits(joint)


def trimmed_histogram_mutual_information(
    x: np.ndarray, y: np.ndarray, outlier_threshold: float = 4, bins: int = 15
) -> float:
    """Histogram MI (bits) of the points left after :func:`outlier_mask` (``outlier_threshold`` 0: all points)."""
    keep = ~outlier_mask(x, y, outlier_threshold)
    return histogram_mutual_information(x[keep], y[keep], bins)


def knn_mutual_information(x: np.ndarray, y: np.ndarray, n_neighbors: int = 3, seed: int = 0) -> float:
    """scikit-learn's k-nearest-neighbour MI estimate (Kraskov et al.) in nats, seeded."""
    return float(mutual_info_regression(x.reshape(-1, 1), y, n_neighbors=n_neighbors, random_state=seed)[0])

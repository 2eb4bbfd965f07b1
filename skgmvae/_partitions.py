"""Comparing partitions: how alike two are, and how many others repeat one.

The graph start counts agreement among partitions of near-equal
modularity (:mod:`skgmvae._graph`), and the test of whether a Gaussian
mixture of the input is reproducible (:mod:`skgmvae._input_mixture`)
among its mixtures' partitions.
"""

from __future__ import annotations

import numpy as np


def adjusted_rand_index(a: np.ndarray, b: np.ndarray, n_clusters: int) -> float:
    """The adjusted Rand index of two labelings with values in [0, n_clusters).

    The value of :func:`sklearn.metrics.adjusted_rand_score`, from one
    ``bincount``: that function's input checks and ``np.unique`` cost 60
    times more on the digits, and the graph start compares up to every pair
    of several dozen candidates.
    """
    table = np.bincount(a * n_clusters + b, minlength=n_clusters**2)
    table = table.reshape(n_clusters, n_clusters).astype(np.float64)

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1)).sum() / 2)

    both, rows, columns = pairs(table), pairs(table.sum(1)), pairs(table.sum(0))
    n_samples = a.shape[0]
    expected = rows * columns / (n_samples * (n_samples - 1) / 2)
    largest = (rows + columns) / 2
    if largest == expected:  # both labelings are one cluster, or all singletons
        return 1.0
    return (both - expected) / (largest - expected)


def reproductions(
    partition: np.ndarray, partitions: list[np.ndarray], n_clusters: int, same: float
) -> int:
    """How many of ``partitions`` (``partition`` itself, if among them,
    included) have an adjusted Rand index of ``same`` or more with it."""
    return sum(
        adjusted_rand_index(partition, other, n_clusters) >= same
        for other in partitions
    )

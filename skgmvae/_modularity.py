"""Newman's modularity of a partition of a weighted graph, and the sums per
cluster it is made of.

The graph start (:mod:`skgmvae._graph`) compares candidate partitions by
modularity, and the mending of a partition that cuts one group
(:mod:`skgmvae._join_split`) measures cuts with the same sums.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def modularity(
    graph: sp.spmatrix, labels: np.ndarray, n_clusters: int, resolution: float = 1.0
) -> float:
    """Newman's modularity of the partition ``labels`` of a weighted graph.

    The fraction of edge weight inside clusters minus ``resolution`` times
    the fraction expected if edges were rewired at random with the same
    degrees (Newman, 2006; the resolution is that of Reichardt and
    Bornholdt, 2006). The expected fraction grows with the square of each
    cluster's total degree, so a resolution below 1 penalises clusters of
    unequal weight less.
    """
    graph = sp.csr_matrix(graph)
    degree = degrees(graph)
    inside, cluster_degree = cluster_weights(graph, degree, labels, n_clusters)
    return modularity_of_sums(inside, cluster_degree, resolution)


def modularity_of_sums(
    inside: np.ndarray, cluster_degree: np.ndarray, resolution: float
) -> float:
    """:func:`modularity` from each cluster's inside weight and degree."""
    total = cluster_degree.sum()
    expected = (cluster_degree**2).sum() / total**2
    return float(inside.sum() / total - resolution * expected)


def degrees(graph: sp.csr_matrix) -> np.ndarray:
    """Each sample's total edge weight."""
    return np.asarray(graph.sum(axis=1)).ravel()


def cluster_weights(
    graph: sp.csr_matrix, degree: np.ndarray, labels: np.ndarray, n_clusters: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's edge weight inside it and its total degree."""
    members = membership(labels, n_clusters)
    inside = (members.T @ graph @ members).diagonal()
    return inside, members.T @ degree


def membership(labels: np.ndarray, n_clusters: int) -> sp.csr_matrix:
    """The ``(n, n_clusters)`` 0/1 matrix of each sample's cluster."""
    return sp.csr_matrix(
        (np.ones(labels.shape[0]), (np.arange(labels.shape[0]), labels)),
        shape=(labels.shape[0], n_clusters),
    )

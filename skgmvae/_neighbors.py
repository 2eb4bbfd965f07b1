"""Nearest-neighbour search: the one place the package looks for neighbours.

The neighbour terms and the graph start need each sample's nearest other
samples, among the warm-up autoencoder's codes or in the input itself.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from skgmvae._graph import fuzzy_neighbor_graph, membership_strengths


class Neighbors(NamedTuple):
    """Each row's nearest neighbours, ``(n, k)``, and the weights with which
    the neighbour terms draw them, ``(n, k)``, each row's summing to more
    than zero."""

    indices: torch.Tensor
    affinity: torch.Tensor


def neighbor_draws(
    found: tuple[np.ndarray, np.ndarray],
    device: torch.device,
    agreeing: tuple[np.ndarray, np.ndarray] | None = None,
) -> Neighbors:
    """The neighbours ``found`` (distances, indices), weighted for drawing.

    A neighbour is drawn in proportion to its fuzzy weight
    (:func:`skgmvae._graph.membership_strengths`) rather than uniformly: a
    sample of a group smaller than k has neighbours outside it, much farther
    than the others, and drawing those as often would pull the group into
    its larger neighbour. With ``agreeing``, the neighbours found in a second
    space (the input's, for neighbours among the codes), each weight is
    multiplied by the pair's edge weight in that space's fuzzy graph
    (:func:`skgmvae._graph.fuzzy_neighbor_graph`): neighbours that both
    spaces see share their sample's class more often than those only one
    sees, which are then not drawn. A row with no neighbour in common keeps
    its own weights.
    """
    distances, indices = found
    affinity = membership_strengths(distances)
    if agreeing is not None:
        affinity = _agreeing_weights(affinity, indices, agreeing)
    return Neighbors(
        torch.as_tensor(indices, device=device),
        torch.as_tensor(affinity, dtype=torch.float32, device=device),
    )


def _agreeing_weights(
    affinity: np.ndarray, indices: np.ndarray, agreeing: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """``affinity`` times each pair's weight in the fuzzy graph of
    ``agreeing``; rows left without weight keep ``affinity``."""
    graph = fuzzy_neighbor_graph(*agreeing).tocsr()
    rows = np.repeat(np.arange(indices.shape[0]), indices.shape[1])
    other = np.asarray(graph[rows, indices.ravel()]).reshape(indices.shape)
    shared = affinity * other
    alone = shared.sum(1) <= 0
    shared[alone] = affinity[alone]
    return shared


def nearest_neighbors(X: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of each row's nearest other rows, ``(n, k)`` each.

    ``k`` is ``n_neighbors``, or ``n - 1`` where there are fewer rows.
    Where some row has ``k / 2`` copies or more, the search runs over the
    distinct rows instead, and each neighbour found is represented by its
    first copy: otherwise the copies of such a row would fill its list of
    neighbours, and the neighbour graph of data with many repeated rows
    would fall apart into cliques of copies. ``k`` is then at most one less
    than the number of distinct rows. A few copies are left as they are:
    each takes one place in its row's list, at distance 0.
    """
    distinct, first, inverse, counts = np.unique(
        X, axis=0, return_index=True, return_inverse=True, return_counts=True
    )
    crowded = counts.max() - 1 >= max(1, n_neighbors // 2)
    if not crowded or distinct.shape[0] == 1:
        return _nearest_other_rows(X, n_neighbors)
    distances, indices = _nearest_other_rows(distinct, n_neighbors)
    inverse = inverse.reshape(-1)
    return distances[inverse], first[indices][inverse]


def _nearest_other_rows(
    X: np.ndarray, n_neighbors: int
) -> tuple[np.ndarray, np.ndarray]:
    n_neighbors = min(n_neighbors, X.shape[0] - 1)
    search = NearestNeighbors(n_neighbors=n_neighbors).fit(X)
    # Without a query, each row's own index is left out of its list. Taking
    # the first column off a search that includes the rows would not do: a
    # row with one copy may come second, after the copy, and so be listed
    # as its own neighbour.
    return search.kneighbors()


def input_features(
    X: np.ndarray, *, n_components: int, random_state: np.random.RandomState
) -> np.ndarray:
    """The input samples as the graph start's input neighbours are searched.

    Inputs wider than ``n_components`` are replaced by their leading
    principal components (randomized SVD): searching among those is much
    faster than in all features and finds neighbours that share their
    sample's class at least as often on image data.
    """
    n_components = min(n_components, *X.shape)
    if X.shape[1] > n_components:
        pca = PCA(n_components, svd_solver="randomized", random_state=random_state)
        X = pca.fit_transform(X)
    return X

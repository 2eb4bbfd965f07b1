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

from skgmvae._graph import membership_strengths


class Neighbors(NamedTuple):
    """Each row's nearest neighbours, ``(n, k)``, and the weights with which
    the neighbour terms draw them, ``(n, k)``, each row's summing to more
    than zero."""

    indices: torch.Tensor
    affinity: torch.Tensor


def neighbor_draws(
    found: tuple[np.ndarray, np.ndarray], device: torch.device
) -> Neighbors:
    """The neighbours ``found`` (distances, indices), weighted for drawing.

    A neighbour is drawn in proportion to its fuzzy weight
    (:func:`skgmvae._graph.membership_strengths`) rather than uniformly: a
    sample of a group smaller than k has neighbours outside it, much farther
    than the others, and drawing those as often would pull the group into
    its larger neighbour.
    """
    distances, indices = found
    return Neighbors(
        torch.as_tensor(indices, device=device),
        torch.as_tensor(
            membership_strengths(distances), dtype=torch.float32, device=device
        ),
    )


def nearest_neighbors(X: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of each row's nearest other rows, ``(n, k)`` each.

    ``k`` is ``n_neighbors``, or ``n - 1`` where there are fewer rows.
    """
    n_neighbors = min(n_neighbors, X.shape[0] - 1)
    search = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(X)
    distances, indices = search.kneighbors(X)
    return distances[:, 1:], indices[:, 1:]


def input_neighbors(
    X: np.ndarray,
    n_neighbors: int,
    *,
    n_components: int,
    random_state: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbours of the input samples, like :func:`nearest_neighbors`.

    Inputs wider than ``n_components`` are searched among their leading
    principal components (randomized SVD), which is much faster than a
    search in all features and finds neighbours that share their sample's
    class at least as often on image data.
    """
    n_components = min(n_components, *X.shape)
    if X.shape[1] > n_components:
        pca = PCA(n_components, svd_solver="randomized", random_state=random_state)
        X = pca.fit_transform(X)
    return nearest_neighbors(X, n_neighbors)

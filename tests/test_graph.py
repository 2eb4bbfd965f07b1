"""The k-NN graph layout behind init_params="graph"."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from skgmvae._graph import embed_graph, fuzzy_neighbor_graph, graph_clusters


def _neighbors(X, k=10):
    distances, indices = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    return distances[:, 1:], indices[:, 1:]


def test_fuzzy_graph_is_symmetric_with_weights_in_unit_interval():
    X, _ = make_blobs(200, n_features=5, centers=3, random_state=0)
    distances, indices = _neighbors(X)
    graph = fuzzy_neighbor_graph(distances, indices).tocsr()
    assert abs(graph - graph.T).max() < 1e-12
    assert graph.data.min() > 0.0 and graph.data.max() <= 1.0 + 1e-12
    # Each sample's edge to its nearest neighbour weighs 1 before the union.
    rows = np.arange(len(X))
    np.testing.assert_allclose(graph[rows, indices[:, 0]].A1, 1.0)


def test_layout_keeps_separated_blobs_apart():
    X, y = make_blobs(300, n_features=8, centers=4, random_state=1)
    distances, indices = _neighbors(X)
    graph = fuzzy_neighbor_graph(distances, indices)
    init = np.random.RandomState(0).uniform(-10, 10, size=(len(X), 2))
    layout = embed_graph(
        graph, init, n_epochs=100, generator=torch.Generator().manual_seed(0)
    )
    assert layout.shape == (len(X), 2) and np.isfinite(layout).all()
    centers = np.array([layout[y == c].mean(0) for c in range(4)])
    within = np.mean(
        [np.linalg.norm(layout[y == c] - centers[c], axis=1).mean() for c in range(4)]
    )
    between = np.min(
        [np.linalg.norm(centers[a] - centers[b]) for a in range(4) for b in range(a)]
    )
    # Started from random positions, the layout gathers each blob.
    assert between > 3 * within


def test_graph_clusters_recover_blobs_and_depend_only_on_the_seed():
    X, y = make_blobs(400, n_features=6, centers=5, random_state=2)
    distances, indices = _neighbors(X)

    def labels(seed):
        return graph_clusters(
            X,
            distances,
            indices,
            5,
            n_epochs=100,
            random_state=np.random.RandomState(seed),
            generator=torch.Generator().manual_seed(seed),
        )

    first = labels(0)
    assert adjusted_rand_score(y, first) > 0.95
    np.testing.assert_array_equal(first, labels(0))

"""The k-NN graph layout behind init_params="graph"."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skgmvae import _graph
from skgmvae._graph import (
    GraphSettings,
    _majority_near_tie,
    best_candidate,
    embed_graph,
    fuzzy_neighbor_graph,
    graph_clusters,
    shared_neighbor_graph,
)
from skgmvae._join_split import bisection, join_split_groups
from skgmvae._modularity import modularity
from skgmvae._neighbors import nearest_neighbors
from skgmvae._partitions import adjusted_rand_index


def test_fuzzy_graph_is_symmetric_with_weights_in_unit_interval():
    X, _ = make_blobs(200, n_features=5, centers=3, random_state=0)
    distances, indices = nearest_neighbors(X, 10)
    graph = fuzzy_neighbor_graph(distances, indices).tocsr()
    assert abs(graph - graph.T).max() < 1e-12
    assert graph.data.min() > 0.0 and graph.data.max() <= 1.0 + 1e-12
    # Each sample's edge to its nearest neighbour weighs 1 before the union.
    rows = np.arange(len(X))
    np.testing.assert_allclose(graph[rows, indices[:, 0]].A1, 1.0)


def test_repeated_rows_have_distinct_neighbours():
    # Each point three times: among all rows, a point's nearest rows would
    # be its own copies (and, with ties, itself), and the graph would fall
    # apart into cliques of copies.
    X, y = make_blobs(60, n_features=4, centers=3, random_state=0)
    X3, y3 = np.repeat(X, 3, axis=0), np.repeat(y, 3)
    distances, indices = nearest_neighbors(X3, 5)
    assert indices.shape == (180, 5)
    rows = np.repeat(np.arange(180)[:, None], 5, axis=1)
    assert (distances > 0).all()
    assert (X3[indices] != X3[rows]).any(axis=2).all()  # no copy, no self
    # Each copy has the neighbours its point has among the distinct points.
    d1, i1 = nearest_neighbors(X, 5)
    np.testing.assert_allclose(distances, np.repeat(d1, 3, axis=0))
    np.testing.assert_array_equal(X3[indices], np.repeat(X[i1], 3, axis=0))
    # The graph connects the copies of a blob's points: one component a blob.
    graph = fuzzy_neighbor_graph(distances, indices)
    n_parts, parts = sp.csgraph.connected_components(graph)
    assert n_parts == 3
    assert adjusted_rand_score(y3, parts) == 1.0


def test_a_few_copies_stay_each_others_neighbours():
    X, _ = make_blobs(60, n_features=4, centers=3, random_state=0)
    X = np.vstack([X, X[:1]])  # row 60 is a copy of row 0
    distances, indices = nearest_neighbors(X, 5)
    # The search is the plain one: the copy takes a place at distance 0.
    assert distances[0, 0] == 0.0 and distances[60, 0] == 0.0
    assert (distances[1:60] > 0).all()
    # Each copy lists the other first, and no row lists itself.
    assert indices[0, 0] == 60 and indices[60, 0] == 0
    assert not (indices == np.arange(len(X))[:, None]).any()


def test_layout_keeps_separated_blobs_apart():
    X, y = make_blobs(300, n_features=8, centers=4, random_state=1)
    distances, indices = nearest_neighbors(X, 10)
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
    distances, indices = nearest_neighbors(X, 10)

    def labels(seed):
        return graph_clusters(
            X,
            (distances, indices),
            5,
            GraphSettings(layout_epochs=100),
            random_state=np.random.RandomState(seed),
            generator=torch.Generator().manual_seed(seed),
        )

    first = labels(0)
    assert adjusted_rand_score(y, first) > 0.95
    np.testing.assert_array_equal(first, labels(0))


def _symmetric(n, edges):
    rows, cols, weights = zip(*edges, strict=True)
    graph = sp.coo_matrix((weights, (rows, cols)), shape=(n, n))
    return (graph + graph.T).tocsr()


def test_shared_graph_keeps_common_edges_and_gives_isolated_samples_their_own():
    graph = _symmetric(5, [(0, 1, 0.5), (1, 2, 1.0), (3, 4, 0.8), (2, 3, 0.4)])
    other = _symmetric(5, [(0, 1, 0.6), (1, 2, 0.5), (0, 2, 1.0), (2, 4, 1.0)])
    shared = shared_neighbor_graph(graph, other).toarray()
    expected = np.zeros((5, 5))
    for i, j, w in [(0, 1, 0.3), (1, 2, 0.5), (3, 4, 0.8), (2, 3, 0.4)]:
        expected[i, j] = expected[j, i] = w
    # 0-1 and 1-2 are common (product of weights); 3 and 4 share no edge,
    # so they keep theirs from the first graph (3-4 and 2-3); 0-2 and 2-4
    # exist only in the second graph and are dropped.
    np.testing.assert_allclose(shared, expected)


def test_modularity_matches_its_definition():
    rng = np.random.RandomState(0)
    dense = rng.uniform(size=(30, 30)) * (rng.uniform(size=(30, 30)) < 0.2)
    dense = dense + dense.T
    labels = rng.randint(4, size=30)
    degree = dense.sum(1)
    total = dense.sum()
    same = labels[:, None] == labels[None, :]
    expected = ((dense - np.outer(degree, degree) / total) * same).sum() / total
    assert np.isclose(modularity(sp.csr_matrix(dense), labels, 4), expected)
    # Two disconnected triangles: split by triangle 1/2, merged 0.
    triangles = _symmetric(
        6, [(0, 1, 1), (1, 2, 1), (0, 2, 1), (3, 4, 1), (4, 5, 1), (3, 5, 1)]
    )
    assert np.isclose(modularity(triangles, np.array([0, 0, 0, 1, 1, 1]), 2), 0.5)
    assert np.isclose(modularity(triangles, np.zeros(6, dtype=int), 2), 0.0)
    # At resolution 0.5 the chance term counts half: 1 - 0.5 * 0.5.
    split = np.array([0, 0, 0, 1, 1, 1])
    assert np.isclose(modularity(triangles, split, 2, resolution=0.5), 0.75)


def _clusters_with_input(codes, X, n_clusters):
    return graph_clusters(
        codes,
        nearest_neighbors(codes, 10),
        n_clusters,
        GraphSettings(layout_epochs=100),
        random_state=np.random.RandomState(0),
        generator=torch.Generator().manual_seed(0),
        input_neighbors=nearest_neighbors(X, 10),
    )


def test_graph_clusters_with_input_neighbors_recover_blobs():
    X, y = make_blobs(400, n_features=6, centers=5, random_state=3)
    # The input has extra noise features; the blobs still dominate it.
    noisy = np.hstack([X, np.random.RandomState(0).normal(size=(400, 4))])
    assert adjusted_rand_score(y, _clusters_with_input(X, noisy, 5)) > 0.95


def _grid_edges(side):
    """The unit-weight edges of a ``side`` x ``side`` grid."""
    edges = [
        (r * side + c, r * side + c + 1, 1)
        for r in range(side)
        for c in range(side - 1)
    ]
    edges += [
        (r * side + c, (r + 1) * side + c, 1)
        for r in range(side - 1)
        for c in range(side)
    ]
    return edges


def test_best_candidate_prefers_one_that_cuts_no_edge():
    # A large group (a 4 x 4 grid, 24 edges) and two triangles apart from
    # it. Splitting the grid in two and merging the triangles has the
    # higher modularity; keeping the three groups cuts no edge and wins.
    grid = _grid_edges(4)
    triangles = [(16, 17, 1), (17, 18, 1), (16, 18, 1)]
    triangles += [(19, 20, 1), (20, 21, 1), (19, 21, 1)]
    graph = _symmetric(22, grid + triangles)
    groups = np.array([0] * 16 + [1] * 3 + [2] * 3)
    split = np.array([0] * 8 + [1] * 8 + [2] * 6)
    assert modularity(graph, split, 3) > modularity(graph, groups, 3)
    candidates = [split, groups]
    chosen = candidates[best_candidate(graph, candidates, 3)]
    np.testing.assert_array_equal(chosen, groups)
    # Without such a partition, modularity decides.
    other = np.array([0] * 8 + [1] * 7 + [2] * 7)
    candidates = [other, split]
    chosen = candidates[best_candidate(graph, candidates, 3)]
    np.testing.assert_array_equal(chosen, split)


def test_best_candidate_ignores_separate_groups_below_the_minimum_size():
    # A 4 x 4 grid and two pairs apart from it, the graph's three
    # components. Pairs are too small to be groups of a 10-neighbour graph:
    # with min_separate_size=3, modularity decides, and it splits the grid.
    grid = _grid_edges(4)
    graph = _symmetric(20, grid + [(16, 17, 1), (18, 19, 1)])
    components = np.array([0] * 16 + [1, 1, 2, 2])
    split = np.array([0] * 8 + [1] * 8 + [2] * 4)
    candidates = [split, components]
    assert modularity(graph, split, 3, 0.5) > modularity(graph, components, 3, 0.5)
    chosen = best_candidate(graph, candidates, 3, 0.5)
    np.testing.assert_array_equal(candidates[chosen], components)
    chosen = best_candidate(graph, candidates, 3, 0.5, min_separate_size=3)
    np.testing.assert_array_equal(candidates[chosen], split)


def test_adjusted_rand_index_equals_scikit_learns():
    rng = np.random.RandomState(0)
    a = rng.randint(4, size=300)
    cases = [(a, rng.randint(4, size=300)), (a, a), (a, (a + 1) % 4)]
    cases += [(a, np.where(rng.rand(300) < 0.1, 0, a)), (a * 0, a * 0)]
    for first, second in cases:
        expected = adjusted_rand_score(first, second)
        assert adjusted_rand_index(first, second, 4) == pytest.approx(expected)


def test_a_near_tie_goes_to_the_partition_most_candidates_found():
    rng = np.random.RandomState(0)
    lone, common, far = (rng.randint(3, size=60) for _ in range(3))
    candidates = [lone, common, common.copy(), common.copy(), far]
    # The lone partition is highest, by less than the tie margin.
    modularities = [0.50005, 0.5, 0.5, 0.5, 0.3]
    assert _majority_near_tie(candidates, modularities, 0, 3) == 1
    # Beyond the margin, the highest modularity stands.
    modularities[1:4] = [0.4998] * 3
    assert _majority_near_tie(candidates, modularities, 0, 3) == 0
    # A tied partition found by fewer than half the candidates does not win.
    modularities[1:4] = [0.5] * 3
    candidates[3] = far
    assert _majority_near_tie(candidates, modularities, 0, 3) == 0


def test_graph_clusters_keep_small_separate_groups():
    X, y = make_blobs(
        [300, 20, 10], centers=[[0, 0], [10, 10], [-10, 10]], random_state=0
    )
    assert adjusted_rand_score(y, _clusters_with_input(X, X, 3)) == 1.0


def test_graph_clusters_measure_separate_groups_by_the_longer_neighbor_list(
    monkeypatch,
):
    # A line of 60 points and two tight groups of 7 far from it. The 6
    # input neighbours of a group's member are its group; its 14 code
    # neighbours reach into the line. The shared graph then has these three
    # components, but a group of 7 is no more than half a 14-neighbour list.
    # The choice among the candidates is checked before any mending.
    monkeypatch.setattr(_graph, "join_split_groups", lambda g, labels, *a: labels)
    line = np.c_[np.arange(60.0), np.zeros(60)]
    rng = np.random.RandomState(0)
    groups = [rng.normal(scale=0.1, size=(7, 2)) + c for c in ([30, 40], [30, -40])]
    X = np.vstack([line, *groups])
    components = np.repeat([0, 1, 2], [60, 7, 7])

    def clusters(n_code_neighbors):
        return graph_clusters(
            X,
            nearest_neighbors(X, n_code_neighbors),
            3,
            GraphSettings(n_neighbors=6, layout_epochs=50),
            random_state=np.random.RandomState(0),
            generator=torch.Generator().manual_seed(0),
            input_neighbors=nearest_neighbors(X, 6),
        )

    assert adjusted_rand_score(components, clusters(6)) == 1.0
    assert adjusted_rand_score(components, clusters(14)) < 1.0


def test_small_graphs_get_more_and_shorter_layouts():
    settings = GraphSettings(layout_epochs=200, n_layouts=2, small_graph=1000)
    # Large graphs: the usual layouts only.
    assert settings.layout_lengths(1001) == [200, 200]
    # Small ones keep those first and add four of half the epochs.
    assert settings.layout_lengths(1000) == [200, 200, 100, 100, 100, 100]


def _grid_and_cliques(boundary=1.0, links=0.0):
    """A 10 x 10 grid (one large group) beside two 12-cliques joined by a
    light edge. The edges between the grid's columns 4 and 5 weigh
    ``boundary``; three more edges of weight ``links`` join the cliques."""
    grid = [
        (a, b, boundary if a % 10 == 4 and b == a + 1 else w)
        for a, b, w in _grid_edges(10)
    ]
    cliques = [
        (start + a, start + b, 1)
        for start in (100, 112)
        for a in range(12)
        for b in range(a + 1, 12)
    ]
    joins = [(111, 112, 0.1)]
    if links:
        joins += [(100 + i, 112 + i, links) for i in range(3)]
    return _symmetric(124, grid + cliques + joins)


def test_join_split_groups_joins_a_large_group_cut_in_two():
    graph = _grid_and_cliques()
    groups = np.array([0] * 100 + [1] * 12 + [2] * 12)
    # The grid's left and right halves apart, the two cliques together.
    halves = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1] * 10 + [2] * 24)
    mended = join_split_groups(graph, halves, 3, GraphSettings())
    assert adjusted_rand_score(groups, mended) == 1.0
    # The partition of the groups themselves is kept as it is.
    kept = join_split_groups(graph, groups, 3, GraphSettings())
    np.testing.assert_array_equal(kept, groups)
    # Cliques smaller than a neighbourhood are not split from each other.
    small = GraphSettings(n_neighbors=13)
    np.testing.assert_array_equal(join_split_groups(graph, halves, 3, small), halves)


def test_join_split_groups_joins_a_sparser_boundary_only_for_a_clean_split():
    # The grid's halves as two clusters, their boundary lighter than the
    # grid's other edges: crossed at 0.76 (weight 0.8) or 0.58 (weight
    # 0.6) of the upper quartile of the clusters' bisection densities.
    # The cliques' cluster bisects at 0.25 and 0.33 of that boundary with
    # three links of weight 0.5 between them, at 0.02 with one of 0.1.
    halves = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1] * 10 + [2] * 24)
    groups = np.array([0] * 100 + [1] * 12 + [2] * 12)
    settings = GraphSettings()
    dense = join_split_groups(_grid_and_cliques(0.8, 0.5), halves, 3, settings)
    assert adjusted_rand_score(groups, dense) == 1.0
    # A boundary that two touching groups could share, and a split no
    # cleaner than a cut through one group: the partition is kept.
    sparse = join_split_groups(_grid_and_cliques(0.6, 0.5), halves, 3, settings)
    np.testing.assert_array_equal(sparse, halves)
    # The same boundary with a cluster of two nearly separate groups.
    clean = join_split_groups(_grid_and_cliques(0.6), halves, 3, settings)
    assert adjusted_rand_score(groups, clean) == 1.0


def test_join_split_groups_may_split_the_pair_it_joins():
    # The grid cut into halves, one of which also holds the first clique
    # (joined to the grid by a light edge); the second clique alone. The
    # only sparse cut lies inside the pair to be joined: the grid is kept
    # whole and the clique cut off.
    graph = _grid_and_cliques().tolil()
    graph[99, 100] = graph[100, 99] = 0.1
    halves = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1] * 10 + [1] * 12 + [2] * 12)
    mended = join_split_groups(graph.tocoo(), halves, 3, GraphSettings())
    groups = np.array([0] * 100 + [1] * 12 + [2] * 12)
    assert adjusted_rand_score(groups, mended) == 1.0


def test_join_split_groups_keeps_groups_of_equal_size():
    X, y = make_blobs(300, n_features=4, centers=3, random_state=0)
    distances, indices = nearest_neighbors(X, 10)
    graph = fuzzy_neighbor_graph(distances, indices)
    # Only two clusters: nothing else to split.
    two = (y > 0).astype(int)
    np.testing.assert_array_equal(
        join_split_groups(graph, two, 2, GraphSettings()), two
    )
    np.testing.assert_array_equal(join_split_groups(graph, y, 3, GraphSettings()), y)


def test_bisection_cuts_a_cluster_where_its_subgraph_is_sparsest():
    graph = _grid_and_cliques().tocsr()
    both_cliques = np.arange(124) >= 100
    density, side = bisection(graph, both_cliques, 10)
    # The light edge between the cliques (0.1) over one clique's degree.
    np.testing.assert_allclose(density, 0.1 / (12 * 11 + 0.1))
    # The side without the cluster's first sample (100): the second clique.
    np.testing.assert_array_equal(side, np.arange(112, 124))
    # The grid has no sparse cut: every straight cut crosses 10 edges.
    grid_density, grid_side = bisection(graph, np.arange(124) < 100, 10)
    assert grid_density > 10 * density
    assert 10 <= grid_side.shape[0] <= 90


def test_bisection_leaves_pieces_of_at_least_min_size():
    graph = _grid_and_cliques().tocsr()
    both_cliques = np.arange(124) >= 100
    # Each clique has 12 samples: with 13 at least, the cut must go
    # through a clique, far denser than the light edge.
    density, side = bisection(graph, both_cliques, 13)
    assert np.isinf(density) and side.shape[0] == 0
    density, side = bisection(graph, both_cliques, 12)
    assert density < 1e-3 and side.shape[0] == 12


def test_bisection_with_samples_that_have_no_edge_in_the_cluster():
    # Two 12-cliques with a light edge, plus five samples whose only edges
    # leave the cluster: the Fiedler vector stays defined and the cut
    # still runs between the cliques.
    graph = _grid_and_cliques().tolil()
    for sample in range(5):
        graph[sample, 105] = graph[105, sample] = 0.0
    members = np.arange(124) >= 100
    members[:5] = True
    density, side = bisection(graph.tocsr(), members, 10)
    assert density < 0.01
    assert set(range(112, 124)) <= set(side) or set(range(100, 112)) <= set(side)

"""Mending a partition that cuts one group in two: join the pair, split
another cluster where its own graph is sparsest.

The graph start (:mod:`skgmvae._graph`) chooses its partition by modularity,
which favours clusters of similar weight; :func:`join_split_groups` undoes
the cut it makes through a large group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from skgmvae._modularity import degrees, membership

if TYPE_CHECKING:
    from skgmvae._graph import GraphSettings

# Weight of the uniform graph that regularizes _fiedler_vector, as a share
# of the mean degree: enough to give samples without edges in a cluster a
# place in the order, little enough to leave the cluster's own edges to
# decide it.
_WEAK_SHARE = 0.01
# A cap on ARPACK's restarts for that vector (its default grows with the
# cluster's size): where the spectrum is too flat to converge within it,
# the cluster has no clear cut anyway.
_ARPACK_RESTARTS = 300


def join_split_groups(
    graph: sp.spmatrix,
    labels: np.ndarray,
    n_clusters: int,
    settings: GraphSettings,
) -> np.ndarray:
    """``labels`` with the clusters that split one group joined again.

    Modularity favours clusters of similar weight, so on data with one
    large class its best partition may cut that class in two and put two
    small classes together. Such a cut is crossed by about as many edges,
    for the clusters' weight, as a cut through the middle of any cluster;
    a boundary between two classes is crossed by far fewer.

    Each cluster is cut where its own subgraph is sparsest along its
    Fiedler vector (:func:`bisection`). The two clusters most densely joined
    (:func:`joining_density`) are merged, and of the other clusters and
    the merged pair the one with the sparsest bisection is split in two in
    their place, while the pair's density is at least
    ``settings.join_ratio`` times the upper quartile of the bisections'
    densities and that bisection's at most ``settings.split_ratio`` times
    the pair's. Where the pair's density is below
    ``settings.firm_join_ratio`` times that quartile, the bisection must be
    sparser still, at most ``settings.clean_split_ratio`` times the pair's:
    two touching classes can share a boundary that dense, and a cluster
    that bisects at half of it (one class of two shapes) is no sign that
    they belong together; a cluster that holds two nearly separate groups
    is. The merged pair is among the candidates because a small group may
    sit at the edge of one half of a large one: then the sparse
    cut lies inside the pair, and the move keeps the large group whole and
    cuts the small one off. The quartile, rather than
    the median, stands for the clusters' interiors because a cluster that
    holds a small separate piece has a sparse bisection, and several such
    clusters would make any boundary look dense. Where no pair qualifies
    the partition is returned unchanged, and nothing random is drawn.
    """
    labels = labels.copy()
    if n_clusters < 3:
        # Joining two of two clusters would leave none to split instead.
        return labels
    graph = sp.csr_matrix(graph)
    # Each cluster's cut, kept between rounds: a move changes three clusters.
    halves: dict[int, tuple[float, np.ndarray]] = {}
    for _ in range(n_clusters):
        density = joining_density(graph, labels, n_clusters)
        first, second = np.unravel_index(np.argmax(density), density.shape)
        joined = density[first, second]
        if joined <= 0.0:
            break
        for k in range(n_clusters):
            if k not in halves:
                halves[k] = bisection(graph, labels == k, settings.n_neighbors)
        # A piece smaller than a sample's neighbourhood is crossed by few
        # edges whatever the data: a sparse cut around it is no sign of a
        # second group, so bisection never cuts one off (infinite cut).
        cuts = np.array([halves[k][0] for k in range(n_clusters)])
        if not np.isfinite(cuts).any():
            break
        interior = np.percentile(cuts[np.isfinite(cuts)], 75)
        if joined < settings.join_ratio * interior:
            break
        # Candidates to split: the other clusters, and the pair itself
        # (under the key ``first``), whose sparsest cut may lie elsewhere.
        options = {k: halves[k] for k in range(n_clusters) if k not in (first, second)}
        pair = (labels == first) | (labels == second)
        options[first] = bisection(graph, pair, settings.n_neighbors)
        target = min(options, key=lambda k: options[k][0])
        cut, side = options[target]
        # A boundary crossed clearly less densely than the interiors may lie
        # between two touching classes; then only a split that cuts off a
        # nearly separate group is evidence enough for the move.
        if joined >= settings.firm_join_ratio * interior:
            limit = settings.split_ratio
        else:
            limit = settings.clean_split_ratio
        if not cut <= limit * joined:
            break
        labels[labels == second] = first
        labels[side] = second
        for k in {first, second, target}:
            del halves[k]
    return labels


def joining_density(
    graph: sp.csr_matrix, labels: np.ndarray, n_clusters: int
) -> np.ndarray:
    """Edge weight between each two clusters over the smaller one's degree.

    The smaller cluster's degree, rather than both or the graph's, makes
    the density of a boundary independent of how large the clusters are.
    """
    members = membership(labels, n_clusters)
    between = (members.T @ graph @ members).toarray()
    degree = between.sum(axis=1)
    np.fill_diagonal(between, 0.0)
    smaller = np.minimum.outer(degree, degree)
    return np.divide(between, smaller, out=np.zeros_like(between), where=smaller > 0)


def bisection(
    graph: sp.csr_matrix, members: np.ndarray, min_size: int
) -> tuple[float, np.ndarray]:
    """The density of the sparsest cut through a cluster, and one side of it.

    The cluster's own subgraph is ordered along its Fiedler vector
    (:func:`_fiedler_vector`), and of the cuts between the first samples in
    that order and the rest that leave at least ``min_size`` samples on
    each side, the one of lowest density is taken: the edge weight across
    over the smaller side's degree, as in :func:`joining_density` (the
    sweep cut of spectral partitioning; Shi and Malik, 2000). It follows
    the graph itself, where 2-means on the cluster's layout can cut a
    cluster that holds two classes across both. The side returned is the
    one without the cluster's first sample. Infinite density and no
    samples where no such cut exists.
    """
    index = np.flatnonzero(members)
    n_members = index.shape[0]
    min_size = max(min_size, 1)
    if n_members < max(2 * min_size, 3):
        return np.inf, index[:0]
    sub = sp.csr_matrix(graph[index][:, index])
    degree = degrees(sub)
    fiedler = _fiedler_vector(sub, degree)
    if fiedler is None:
        return np.inf, index[:0]
    order = np.argsort(fiedler, kind="stable")
    ordered = sub[order][:, order]
    # Cutting after position i: the first i + 1 samples' degree, less twice
    # the weight among them, crosses the cut.
    among = np.asarray(sp.tril(ordered, k=-1).sum(axis=1)).ravel()
    cut = np.maximum(np.cumsum(degree[order] - 2.0 * among)[:-1], 0.0)
    volume = np.cumsum(degree[order])[:-1]
    smaller = np.minimum(volume, degree.sum() - volume)
    density = np.divide(
        cut, smaller, out=np.full(n_members - 1, np.inf), where=smaller > 0
    )
    density[: min_size - 1] = np.inf
    density[n_members - min_size :] = np.inf
    best = int(np.argmin(density))
    if not np.isfinite(density[best]):
        return np.inf, index[:0]
    first, rest = order[: best + 1], order[best + 1 :]
    side = rest if (first == 0).any() else first
    return float(density[best]), np.sort(index[side])


def _fiedler_vector(sub: sp.csr_matrix, degree: np.ndarray) -> np.ndarray | None:
    """The Fiedler vector of the subgraph ``sub`` (of degrees ``degree``).

    The second eigenvector of the normalized adjacency, scaled by the
    inverse square root of the degrees. A weak edge between every two
    samples (``_WEAK_SHARE`` of the mean degree spread evenly, as in the
    regularized spectral clustering of Amini et al., 2013) keeps samples
    with few or no edges inside the cluster from deciding the order. The
    leading eigenvector is known and projected out, so ARPACK looks for
    one, from a fixed start: no random draw. None where ARPACK finds none
    within ``_ARPACK_RESTARTS`` restarts.
    """
    n_samples = sub.shape[0]
    weak = max(_WEAK_SHARE * degree.mean(), np.finfo(np.float64).tiny) / n_samples
    scale = 1.0 / np.sqrt(degree + weak * n_samples)
    leading = 1.0 / scale
    leading /= np.linalg.norm(leading)

    def product(x: np.ndarray) -> np.ndarray:
        x = np.ravel(x)
        x = x - leading * (leading @ x)
        y = scale * x
        y = scale * (sub @ y + weak * y.sum())
        return y - leading * (leading @ y)

    operator = LinearOperator((n_samples, n_samples), matvec=product, dtype=np.float64)
    start = np.linspace(-1.0, 1.0, n_samples)
    try:
        _, vectors = eigsh(
            operator, k=1, which="LA", v0=start, tol=1e-6, maxiter=_ARPACK_RESTARTS
        )
    except ArpackNoConvergence as stopped:
        if stopped.eigenvectors.shape[1] == 0:
            return None
        vectors = stopped.eigenvectors
    return vectors[:, 0] * scale

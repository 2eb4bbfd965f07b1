"""Initial clusters from a low-dimensional embedding of a k-NN graph.

The autoencoder's codes are connected to their nearest neighbours with the
fuzzy weights of UMAP (McInnes, Healy and Melville, 2018); so are the input
samples, and only the edges both graphs share are kept. The graph is laid
out in ``n_components`` dimensions by stochastic gradient descent on UMAP's
cross-entropy (attraction along sampled edges, repulsion from random
samples), and k-means clusters the layout. Of the partitions of several
layouts and k-means runs, of k-means on the codes and of the graph's
connected components, one that cuts no edge is kept if there is one, and
otherwise the one with the highest modularity on the graph (Newman, 2006),
mended where it cuts one group in two
(:func:`~skgmvae._join_split.join_split_groups`). Clustering such a layout
of autoencoder codes is the N2D recipe (McConville et al., 2019). The
layout only chooses the starting clusters; the fitted model is the GMVAE.

Everything runs on the CPU in float32 from one ``torch.Generator``, so a
seed gives the same clusters on every device.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import cg
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from skgmvae._join_split import join_split_groups
from skgmvae._modularity import cluster_weights, degrees, modularity_of_sums
from skgmvae._partitions import reproductions

# The curve 1 / (1 + a d^(2b)) that UMAP fits for min_dist=0 and spread=1:
# the tightest clusters, which is what clustering wants.
_CURVE_A = 1.929
_CURVE_B = 0.7915
_NEGATIVE_SAMPLES = 5
_GRADIENT_CLIP = 4.0
_BANDWIDTH_STEPS = 64
# Edge tensors are padded to a multiple of this length (see _padded).
_EDGE_QUANTUM = 256
# A partition whose cut is at most this fraction of the graph's weight cuts
# no edge: the margin is for rounding in the sparse sums.
_SEPARATE_TOLERANCE = 1e-6
# Partitions whose modularities differ by at most _NEAR_TIE are tied; of
# tied ones, a partition that at least a _MAJORITY share of the candidates
# reproduce (at an adjusted Rand index of _SAME_PARTITION or more) is
# taken (see _majority_near_tie).
_NEAR_TIE = 1e-4
_MAJORITY = 0.5
_SAME_PARTITION = 0.99


def fuzzy_neighbor_graph(distances: np.ndarray, indices: np.ndarray) -> sp.coo_matrix:
    """Symmetric fuzzy k-NN graph, ``(n, n)``, from each row's neighbours.

    Sample i's edge to its neighbour j weighs as in
    :func:`membership_strengths`; the two directions are merged as the
    probabilistic union ``w + w' - w w'``.
    """
    n_samples, n_neighbors = indices.shape
    rows = np.repeat(np.arange(n_samples), n_neighbors)
    graph = sp.csr_matrix(
        (membership_strengths(distances).ravel(), (rows, indices.ravel())),
        shape=(n_samples, n_samples),
    )
    return (graph + graph.T - graph.multiply(graph.T)).tocoo()


def membership_strengths(distances: np.ndarray) -> np.ndarray:
    """Each row's fuzzy weights to its k neighbours, ``(n, k)``, in (0, 1].

    The weight of the edge to neighbour j is ``exp(-(d_j - rho) / sigma)``,
    where ``rho`` is the distance to the nearest neighbour and ``sigma``
    makes the k weights sum to ``log2(k)`` (UMAP's local scale): 1 for the
    nearest, close to 0 for a neighbour much farther than the others.
    """
    n_samples, n_neighbors = distances.shape
    distances = distances.astype(np.float64)
    excess = np.maximum(distances - distances[:, :1], 0.0)
    target = np.log2(n_neighbors)
    # Bisection for sigma, all rows at once; the sum decreases as sigma does.
    low = np.zeros(n_samples)
    high = np.full(n_samples, np.inf)
    sigma = np.ones(n_samples)
    for _ in range(_BANDWIDTH_STEPS):
        too_wide = np.exp(-excess / sigma[:, None]).sum(1) > target
        high = np.where(too_wide, sigma, high)
        low = np.where(too_wide, low, sigma)
        sigma = np.where(np.isinf(high), 2.0 * sigma, 0.5 * (low + high))
    return np.exp(-excess / np.maximum(sigma, 1e-12)[:, None])


def embed_graph(
    graph: sp.coo_matrix,
    init: np.ndarray,
    *,
    n_epochs: int,
    generator: torch.Generator,
) -> np.ndarray:
    """Layout of ``graph`` starting from ``init``, ``(n, n_components)``.

    Each epoch keeps every edge with probability proportional to its weight,
    pulls its two ends together, and pushes the head away from
    ``_NEGATIVE_SAMPLES`` uniformly drawn samples; step sizes decay linearly
    to zero. All of an epoch's moves are computed from the same positions
    and applied at once.
    """
    head = torch.as_tensor(graph.row, dtype=torch.long)
    tail = torch.as_tensor(graph.col, dtype=torch.long)
    keep = torch.as_tensor(graph.data / graph.data.max(), dtype=torch.float32)
    layout = torch.as_tensor(init, dtype=torch.float32).clone()
    n_samples = layout.shape[0]
    a, b = _CURVE_A, _CURVE_B
    for epoch in range(n_epochs):
        step = 1.0 - epoch / n_epochs
        chosen = torch.rand(keep.shape, generator=generator) < keep
        # index_select gathers the same rows as indexing, with less overhead.
        picked = chosen.nonzero().squeeze(1)
        h, t, real = _padded(head.index_select(0, picked), tail.index_select(0, picked))
        diff = layout.index_select(0, h) - layout.index_select(0, t)
        dist2 = (diff * diff).sum(1, keepdim=True)
        attraction = -2.0 * a * b * dist2.clamp_min(1e-12) ** (b - 1.0)
        attraction = attraction / (1.0 + a * dist2**b)
        pull = (attraction * diff).clamp(-_GRADIENT_CLIP, _GRADIENT_CLIP) * step * real
        move = torch.zeros_like(layout)
        move.index_add_(0, h, pull)
        move.index_add_(0, t, -pull)
        h = h.repeat_interleave(_NEGATIVE_SAMPLES)
        real = real.repeat_interleave(_NEGATIVE_SAMPLES, dim=0)
        other = torch.randint(n_samples, h.shape, generator=generator)
        diff = layout.index_select(0, h) - layout.index_select(0, other)
        dist2 = (diff * diff).sum(1, keepdim=True)
        repulsion = 2.0 * b / ((1e-3 + dist2) * (1.0 + a * dist2**b))
        push = (repulsion * diff).clamp(-_GRADIENT_CLIP, _GRADIENT_CLIP) * step
        move.index_add_(0, h, push * real)
        layout += move
    return layout.numpy()


def _padded(
    head: torch.Tensor, tail: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The edges padded with no-op edges to a multiple of ``_EDGE_QUANTUM``.

    Returns the padded heads and tails and a ``(n, 1)`` column that is 1 for
    the real edges and 0 for the padding. torch splits an elementwise
    operation on a long tensor between its threads, and its vectorised and
    scalar ``pow`` round differently; with a length that splits into whole
    vectors, each element takes the same path on one thread or two.
    """
    n_edges = head.shape[0]
    n_pad = -n_edges % _EDGE_QUANTUM
    real = torch.ones(n_edges + n_pad, 1)
    real[n_edges:] = 0.0
    padding = head.new_zeros(n_pad)
    return torch.cat([head, padding]), torch.cat([tail, padding]), real


def shared_neighbor_graph(graph: sp.spmatrix, other: sp.spmatrix) -> sp.coo_matrix:
    """Edges of ``graph`` that ``other`` also has, weighted by the product.

    Two neighbourhoods that agree are more likely to join samples of one
    class than either alone. A sample left without any shared edge keeps
    its edges from ``graph``, so that no sample drops out of the layout.
    """
    graph = sp.csr_matrix(graph)
    shared = graph.multiply(sp.csr_matrix(other)).tocsr()
    shared.eliminate_zeros()
    isolated = np.diff(shared.indptr) == 0
    if isolated.any():
        edges = graph.tocoo()
        mask = isolated[edges.row] | isolated[edges.col]
        fallback = sp.csr_matrix(
            (edges.data[mask], (edges.row[mask], edges.col[mask])), shape=graph.shape
        )
        shared = shared.maximum(fallback)
    return shared.tocoo()


def neighbor_graph(
    code_neighbors: tuple[np.ndarray, np.ndarray],
    input_neighbors: tuple[np.ndarray, np.ndarray] | None = None,
) -> sp.coo_matrix:
    """The fuzzy graph of the codes' neighbours, reduced to the edges that
    the input's neighbour graph shares when ``input_neighbors`` is given."""
    graph = fuzzy_neighbor_graph(*code_neighbors)
    if input_neighbors is not None:
        graph = shared_neighbor_graph(graph, fuzzy_neighbor_graph(*input_neighbors))
    return graph


def spread_labels(
    graph: sp.spmatrix, classes: np.ndarray, n_classes: int, alpha: float = 0.99
) -> np.ndarray:
    """One-hot classes of every node, spread from the labelled ones.

    Label spreading (Zhou et al., 2004): ``F = (1 - alpha) (I - alpha S)^-1
    Y`` with ``S`` the symmetrically normalised weights and ``Y`` the
    one-hot classes of the labelled nodes (``classes`` >= 0; -1 unknown),
    solved by conjugate gradients, one class at a time. Each node takes the
    class with the largest ``F``; labelled nodes keep their own, and nodes
    no labelled node reaches get equal responsibilities for every class.
    """
    graph = sp.csr_matrix(graph, dtype=np.float64)
    graph = 0.5 * (graph + graph.T)
    degree = np.asarray(graph.sum(axis=1)).ravel()
    scale = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=scale, where=degree > 0)
    system = sp.identity(graph.shape[0]) - alpha * (
        sp.diags(scale) @ graph @ sp.diags(scale)
    )
    known = classes >= 0
    spread = np.empty((graph.shape[0], n_classes))
    for k in range(n_classes):
        seeds = (1.0 - alpha) * (known & (classes == k)).astype(np.float64)
        spread[:, k], _ = cg(system, seeds, maxiter=1000)
    responsibilities = np.eye(n_classes)[spread.argmax(1)]
    responsibilities[spread.max(1) <= 0] = 1.0 / n_classes
    responsibilities[known] = np.eye(n_classes)[classes[known]]
    return responsibilities


@dataclass(frozen=True)
class GraphSettings:
    """Settings of the graph start (:func:`graph_clusters`).

    ``n_neighbors`` neighbours per input sample are searched among its
    ``input_components`` leading principal components; ``n_layouts`` layouts
    of ``layout_epochs`` epochs each (UMAP's choice for large data) are each
    clustered by ``n_kmeans_init`` single k-means runs; partitions are
    compared by their modularity at ``resolution``.

    A graph of at most ``small_graph`` samples, cheap to lay out, also gets
    twice as many layouts of half the epochs (:meth:`layout_lengths`). A
    layout may keep a class in two pieces where another does not, and
    modularity takes the one that joins them: more layouts make such a
    start less likely, and shorter ones differ more from each other.

    ``join_ratio``, ``firm_join_ratio``, ``split_ratio`` and
    ``clean_split_ratio`` decide when the chosen partition joins two of its
    clusters and splits another
    (:func:`~skgmvae._join_split.join_split_groups`).
    """

    n_neighbors: int = 10
    input_components: int = 50
    layout_epochs: int = 200
    n_layouts: int = 2
    small_graph: int = 10_000
    n_kmeans_init: int = 10
    resolution: float = 0.5
    join_ratio: float = 0.5
    firm_join_ratio: float = 2 / 3
    split_ratio: float = 0.5
    clean_split_ratio: float = 0.1

    def layout_lengths(self, n_samples: int) -> list[int]:
        """The epochs of each layout of a graph of ``n_samples``."""
        lengths = [self.layout_epochs] * self.n_layouts
        if n_samples <= self.small_graph:
            lengths += [max(self.layout_epochs // 2, 1)] * (2 * self.n_layouts)
        return lengths


def graph_clusters(
    codes: np.ndarray,
    code_neighbors: tuple[np.ndarray, np.ndarray],
    n_clusters: int,
    settings: GraphSettings,
    *,
    random_state: np.random.RandomState,
    generator: torch.Generator,
    input_neighbors: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Cluster labels of ``codes``, chosen among partitions of their k-NN graph.

    ``code_neighbors`` holds the distances and indices of each code's nearest
    neighbours (itself excluded). With ``input_neighbors`` (the same for the
    input samples), only edges both graphs share are used
    (:func:`shared_neighbor_graph`).

    The candidates are ``settings.n_kmeans_init`` single k-means runs on
    each of several layouts of the graph (:func:`layout_partitions`),
    k-means on the codes themselves, and the graph's connected components
    when there are exactly ``n_clusters`` of them; :func:`best_candidate`
    chooses, and :func:`~skgmvae._join_split.join_split_groups` mends the
    choice where it keeps one group in two clusters.

    A partition that cuts no edge is taken first only if each of its groups
    holds more than half a neighbour list (the longer one, where the code
    and input lists differ). In a smaller group, most of each member's
    nearest neighbours lie outside it, in the codes and in the input alike:
    no edge joins it to the rest only because the two lists disagree on
    those neighbours, and the shared graph keeps only the edges both hold.
    A handful of near-duplicate images can be cut off so; when exactly
    ``n_clusters`` such pieces and the rest are the graph's components,
    taking them as the clusters would put almost every sample in one.
    """
    graph = neighbor_graph(code_neighbors, input_neighbors)
    candidates = list(
        layout_partitions(
            graph,
            codes,
            n_clusters,
            settings,
            random_state=random_state,
            generator=generator,
        )
    )
    candidates.append(
        KMeans(
            n_clusters, n_init=settings.n_kmeans_init, random_state=random_state
        ).fit_predict(codes)
    )
    n_found, components = connected_components(graph, directed=False)
    if n_found == n_clusters:
        candidates.append(components)
    # A group must outnumber half of the longer neighbour list.
    list_length = code_neighbors[1].shape[1]
    if input_neighbors is not None:
        list_length = max(list_length, input_neighbors[1].shape[1])
    chosen = best_candidate(
        graph,
        candidates,
        n_clusters,
        settings.resolution,
        min_separate_size=list_length // 2 + 1,
    )
    return join_split_groups(graph, candidates[chosen], n_clusters, settings)


def layout_partitions(
    graph: sp.coo_matrix,
    codes: np.ndarray,
    n_clusters: int,
    settings: GraphSettings,
    *,
    random_state: np.random.RandomState,
    generator: torch.Generator,
) -> Iterator[np.ndarray]:
    """The partitions of single k-means runs on layouts of ``graph``.

    The layouts (as many, and as long, as ``settings.layout_lengths`` gives
    for the graph's size) have ``n_clusters`` dimensions and start from the
    codes' leading principal components, scaled to [-10, 10]; they differ
    in the edges and negative samples drawn. Each is clustered by
    ``settings.n_kmeans_init`` k-means runs.
    """
    n_components = min(n_clusters, codes.shape[1], codes.shape[0])
    init = PCA(n_components, random_state=random_state).fit_transform(codes)
    init = 10.0 * init / max(np.abs(init).max(), np.finfo(np.float64).tiny)
    for n_epochs in settings.layout_lengths(codes.shape[0]):
        layout = embed_graph(graph, init, n_epochs=n_epochs, generator=generator)
        for _ in range(settings.n_kmeans_init):
            kmeans = KMeans(n_clusters, n_init=1, random_state=random_state)
            yield kmeans.fit_predict(layout)


def best_candidate(
    graph: sp.spmatrix,
    candidates: list[np.ndarray],
    n_clusters: int,
    resolution: float = 1.0,
    min_separate_size: int = 1,
) -> int:
    """The index of the candidate partition of ``graph`` to start from.

    A partition into ``n_clusters`` groups of at least ``min_separate_size``
    (1 or more) samples each that no edge joins (the cut weight at most
    ``_SEPARATE_TOLERANCE`` of the total) is taken first: such groups are
    the graph's own. Otherwise, and between several such
    partitions, the one with the highest modularity at ``resolution``
    (:func:`~skgmvae._modularity.modularity`) is kept, rather than the one
    with the lowest k-means inertia: on a layout where one class forms two
    blobs and two others touch, the lowest inertia often splits the first
    and merges the others, which cuts many more edges. Modularity alone
    would not do: its null model rewards groups of similar total degree, so
    that it prefers splitting a group that holds most of the samples to
    keeping separate small groups apart, even at a resolution below 1.
    Where the highest modularity is tied, to within a margin far below what
    separates different partitions on a large graph, with a partition that
    most candidates found, that partition is kept
    (:func:`_majority_near_tie`).
    """
    graph = sp.csr_matrix(graph)
    degree = degrees(graph)
    total = degree.sum()
    keys = []
    for labels in candidates:
        inside, cluster_degree = cluster_weights(graph, degree, labels, n_clusters)
        separate = total - inside.sum() <= _SEPARATE_TOLERANCE * total
        sizes = np.bincount(labels, minlength=n_clusters)
        separate = separate and sizes.min() >= min_separate_size
        keys.append((separate, modularity_of_sums(inside, cluster_degree, resolution)))
    best = max(range(len(candidates)), key=keys.__getitem__)
    if keys[best][0]:
        return best
    modularities = [key[1] for key in keys]
    return _majority_near_tie(candidates, modularities, best, n_clusters)


def _majority_near_tie(
    candidates: list[np.ndarray],
    modularities: list[float],
    best: int,
    n_clusters: int,
) -> int:
    """``best``, or a partition most candidates found whose modularity ties it.

    Candidates within ``_NEAR_TIE`` of the highest modularity are compared
    with every candidate; one that at least ``_MAJORITY`` of them reproduce
    (an adjusted Rand index of ``_SAME_PARTITION`` or more, itself included)
    replaces ``best``. On a large graph a difference that small is below
    what the layouts' randomness decides, and a partition that one layout
    and k-means run found alone is more likely a chance cut than one that
    most runs agree on; on a small graph, partitions that close in
    modularity are different ones, rarely each found by most runs.
    """
    floor = modularities[best] - _NEAR_TIE
    near = [i for i, value in enumerate(modularities) if value >= floor]
    if len(near) < 2:
        return best
    support = {
        i: reproductions(candidates[i], candidates, n_clusters, _SAME_PARTITION)
        for i in near
    }
    chosen = max(near, key=lambda i: (support[i], modularities[i]))
    majority = support[chosen] >= _MAJORITY * len(candidates)
    return chosen if majority and support[chosen] > support[best] else best

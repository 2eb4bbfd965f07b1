"""Initial clusters for the mixture prior, found in the warm-up codes.

Functions on numpy arrays: given the standardized autoencoder codes of the
training data, return soft assignments (responsibilities) of every sample to
``n_clusters`` clusters (:func:`initial_clusters` dispatches on the start
method), the Gaussian moments of each cluster, which become the prior
p(z | y), and the clusters' weights, which become p(y).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.manifold import spectral_embedding
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import kneighbors_graph

from skgmvae import _graph
from skgmvae._tensors import make_generator

# Added to every cluster's size when p(y) is set from the clusters.
_WEIGHT_PSEUDO_COUNT = 1.0


@dataclass(frozen=True)
class StartSettings:
    """Settings of the start methods of :func:`initial_clusters`.

    ``reg_covar`` is the variance added to the diagonal of the Gaussian
    mixture, on codes standardized to unit variance per dimension;
    ``spectral_neighbors`` the neighbours per code of the spectral start's
    graph; ``graph`` the settings of the graph start.
    """

    reg_covar: float = 1e-3
    spectral_neighbors: int = 10
    graph: _graph.GraphSettings = field(default_factory=_graph.GraphSettings)


def initial_clusters(
    method: str,
    codes: np.ndarray,
    n_clusters: int,
    settings: StartSettings,
    *,
    code_neighbors: tuple[np.ndarray, np.ndarray] | None,
    input_neighbors: tuple[np.ndarray, np.ndarray] | None = None,
    random_state: np.random.RandomState,
    classes: np.ndarray | None = None,
) -> np.ndarray:
    """Responsibilities ``(n, n_clusters)`` of the float32 ``codes``.

    ``method`` is ``"graph"``, ``"spectral"`` or ``"gmm"``. The graph start
    needs ``code_neighbors`` (distances and indices of each code's nearest
    neighbours) and, to keep only the edges both agree on,
    ``input_neighbors`` (the same for the input samples). The graph methods
    need more samples than neighbours per sample; below that, the Gaussian
    mixture is used. With ``classes`` (each row's class index,
    -1 where unknown; every class labelled at least once), cluster k is
    class k: fully labelled data are their classes, the graph start spreads
    the known classes over the graph instead of clustering it
    (:func:`skgmvae._graph.spread_labels`), and the other starts' clusters
    are renumbered to the classes (:func:`match_to_classes`).
    """
    if classes is not None and (classes >= 0).all():
        return np.eye(n_clusters)[classes]
    n_samples = codes.shape[0]
    graph = settings.graph
    if method == "graph" and n_samples > graph.n_neighbors:
        if classes is not None:
            graph_edges = _graph.neighbor_graph(code_neighbors, input_neighbors)
            return _graph.spread_labels(graph_edges, classes, n_clusters)
        labels = _graph.graph_clusters(
            codes,
            code_neighbors,
            n_clusters,
            graph,
            random_state=random_state,
            generator=make_generator(random_state, torch.device("cpu")),
            input_neighbors=input_neighbors,
        )
        return np.eye(n_clusters)[labels]
    codes = codes.astype(np.float64)
    if method == "spectral" and n_samples > 2 * settings.spectral_neighbors:
        responsibilities = spectral_responsibilities(
            codes,
            n_clusters,
            n_neighbors=settings.spectral_neighbors,
            random_state=random_state,
        )
    else:
        responsibilities = mixture_responsibilities(
            codes, n_clusters, reg_covar=settings.reg_covar, random_state=random_state
        )
    if classes is None:
        return responsibilities
    return match_to_classes(responsibilities, classes)


def match_to_classes(responsibilities: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Renumber clusters as the known classes; labelled rows take their class.

    ``classes`` holds each row's class index, or -1 where it is unknown.
    Clusters and classes are paired one to one so that the labelled rows'
    total responsibility for their own class is largest (the Hungarian
    algorithm on the cluster-by-class overlap); unlabelled rows keep their
    responsibilities, renumbered, and labelled rows become one-hot at their
    class.
    """
    n_clusters = responsibilities.shape[1]
    known = classes >= 0
    one_hot = np.eye(n_clusters)[classes[known]]
    overlap = responsibilities[known].T @ one_hot
    clusters, matched_classes = linear_sum_assignment(overlap, maximize=True)
    matched = np.empty_like(responsibilities)
    matched[:, matched_classes] = responsibilities[:, clusters]
    matched[known] = one_hot
    return matched


def mixture_responsibilities(
    codes: np.ndarray, n_clusters: int, *, reg_covar: float, random_state
) -> np.ndarray:
    """Responsibilities of a diagonal Gaussian mixture fitted to ``codes``."""
    mixture = GaussianMixture(
        n_components=n_clusters,
        covariance_type="diag",
        reg_covar=reg_covar,
        random_state=random_state,
    )
    return mixture.fit(codes).predict_proba(codes)


def spectral_responsibilities(
    codes: np.ndarray, n_clusters: int, *, n_neighbors: int, random_state
) -> np.ndarray:
    """One-hot clusters from spectral clustering of the codes' k-NN graph.

    The graph connects each code to its ``n_neighbors`` nearest neighbours
    (symmetrised, unit weights); the ``n_clusters`` leading eigenvectors of
    its normalised Laplacian are row-normalised and clustered with k-means
    (Ng, Jordan and Weiss, 2001). Unlike a Gaussian mixture, this follows
    clusters that are connected but not convex.
    """
    n_neighbors = min(n_neighbors, codes.shape[0] - 1)
    graph = kneighbors_graph(codes, n_neighbors, include_self=False)
    graph = 0.5 * (graph + graph.T)
    with warnings.catch_warnings():
        # A disconnected graph is fine here: its components are clusters.
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        embedding = spectral_embedding(
            graph,
            n_components=n_clusters,
            eigen_solver="lobpcg" if codes.shape[0] > 5000 else "arpack",
            random_state=random_state,
            drop_first=False,
        )
    norms = np.linalg.norm(embedding, axis=1, keepdims=True)
    embedding /= np.maximum(norms, np.finfo(embedding.dtype).tiny)
    labels = KMeans(n_clusters, n_init=10, random_state=random_state).fit_predict(
        embedding
    )
    return np.eye(n_clusters)[labels]


def mixture_weights(responsibilities: np.ndarray) -> np.ndarray:
    """Mixture weights p(y) from the clusters' sizes, ``(K,)``: their total
    responsibilities plus ``_WEIGHT_PSEUDO_COUNT`` each, normalised.

    The pseudo-count, the mean of a Dirichlet posterior with a flat prior,
    keeps an empty cluster's weight above zero, so that it can still be
    given samples.
    """
    counts = responsibilities.sum(0) + _WEIGHT_PSEUDO_COUNT
    return counts / counts.sum()


def gaussian_moments(
    codes: np.ndarray, responsibilities: np.ndarray, *, reg_covar: float
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and diagonal variance of each cluster, ``(K, D)`` each.

    A cluster with no weight gets the overall mean and variance, so every
    prior component starts somewhere sensible.
    """
    weights = responsibilities.sum(0)[:, None]
    overall_mean = codes.mean(0)
    overall_var = codes.var(0)
    safe = np.maximum(weights, np.finfo(codes.dtype).tiny)
    means = responsibilities.T @ codes / safe
    var = responsibilities.T @ codes**2 / safe - means**2
    empty = weights[:, 0] < 1e-8
    means[empty] = overall_mean
    var[empty] = overall_var
    return means, np.maximum(var, 0.0) + reg_covar

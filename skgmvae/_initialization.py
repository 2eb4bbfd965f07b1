"""Initial clusters for the mixture prior, found in the warm-up codes.

Pure functions on numpy arrays: given the standardized autoencoder codes of
the training data, return soft assignments (responsibilities) of every sample
to ``n_clusters`` clusters, and the Gaussian moments of each cluster, which
become the prior p(z | y).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.manifold import spectral_embedding
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import kneighbors_graph


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

"""A Gaussian mixture of the input, to refine the graph start where it fits.

The graph start (:mod:`skgmvae._graph`) follows groups of any shape, but on
small tabular data whose groups are Gaussian clouds a Gaussian mixture of
the input separates them better. These functions, on
numpy arrays, decide whether the input looks like such a mixture and, if
so, refine the start's partition by EM of a Gaussian mixture whose
covariance type (full, tied, diagonal or spherical) BIC chooses.

The test asks two things of ``n_clusters`` full-covariance Gaussians fitted
to the input:

- that they are reproducible: most of several fits of the mixture end in
  nearly one partition (a stable solution, in the sense of
  stability-based validation of clusterings; Lange et al., 2004);
- that more components are not needed: the Bayesian information criterion
  (Schwarz, 1978) of ``n_clusters`` components is no worse than that of
  twice as many, so each group is described by one Gaussian. Groups that
  are curved or ring-shaped, which the graph follows, need more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from skgmvae._partitions import adjusted_rand_index


@dataclass(frozen=True)
class InputMixtureSettings:
    """Settings of the input-mixture test and refinement.

    Of ``n_init`` mixtures, each the more likely of ``inits_per_mixture``
    runs of EM from k-means initialisations, at least ``min_reached`` must
    reach one partition (an adjusted Rand index of at least
    ``same_partition`` with it); not all, because EM can stop in a poor
    local optimum even on iris. One run a mixture is not enough on groups
    of unequal sizes, where k-means often splits the largest group and EM
    keeps the split, so that even data drawn from a Gaussian mixture failed
    the test. The mixtures are fitted one at a time, and the test fails as
    soon as no partition found so far can still be reached by
    ``min_reached`` of them. The test runs on at most ``max_rows``
    rows (a random subset of larger data) and only where that many rows give
    each of the ``2 * n_clusters`` components of the larger mixture more
    rows than its covariance has dimensions plus one. ``reg_covar`` is added
    to the diagonal of each covariance, on features scaled to unit variance.
    """

    n_init: int = 5
    inits_per_mixture: int = 2
    min_reached: int = 4
    same_partition: float = 0.9
    max_rows: int = 2000
    reg_covar: float = 1e-3


def refine_start(
    features: np.ndarray,
    labels: np.ndarray,
    n_clusters: int,
    settings: InputMixtureSettings,
    *,
    random_state: np.random.RandomState,
) -> np.ndarray | None:
    """``labels`` refined by EM of a Gaussian mixture of ``features``, where
    :func:`gaussian_groups` finds the input to be one; else None.

    ``features`` are the input samples (or their leading principal
    components). The refinement is also dropped (None) if it would leave a
    cluster empty: EM can absorb a small group into a large one.
    """
    # Unit variance per feature, so that reg_covar means the same on any
    # data; a constant feature becomes zeros.
    features = StandardScaler().fit_transform(np.asarray(features, np.float64))
    if not gaussian_groups(features, n_clusters, settings, random_state=random_state):
        return None
    mixture = mixture_from_labels(features, labels, n_clusters, settings.reg_covar)
    if mixture is None:
        return None
    refined = mixture.predict(features)
    if np.unique(refined).size < n_clusters:
        return None
    return refined


def gaussian_groups(
    features: np.ndarray,
    n_clusters: int,
    settings: InputMixtureSettings,
    *,
    random_state: np.random.RandomState,
) -> bool:
    """Whether ``n_clusters`` full-covariance Gaussians describe ``features``
    reproducibly and no worse, by BIC, than twice as many (see the module).

    The test runs on the distinct rows: on data with many copies of some
    rows, the larger mixture would place narrow components on the copies,
    whose likelihood then grows without bound, and BIC would always prefer
    it.
    """
    first = np.unique(features, axis=0, return_index=True)[1]
    if first.size < features.shape[0]:
        features = features[np.sort(first)]  # the first copies, in order
    n_samples, n_features = features.shape
    n_rows = min(n_samples, settings.max_rows)
    if n_clusters < 2 or n_rows < 2 * n_clusters * (n_features + 1):
        return False
    if n_samples > n_rows:
        features = features[random_state.choice(n_samples, n_rows, replace=False)]
    bic = np.inf
    partitions: list[np.ndarray] = []
    reached: list[int] = []  # how many of the partitions reach each one
    for n_left in range(settings.n_init - 1, -1, -1):
        mixture = _mixture(
            n_clusters, settings.inits_per_mixture, settings, random_state
        )
        partition = mixture.fit(features).predict(features)
        bic = min(bic, mixture.bic(features))
        same = [
            adjusted_rand_index(partition, other, n_clusters) >= settings.same_partition
            for other in partitions
        ]
        reached = [count + agrees for count, agrees in zip(reached, same, strict=True)]
        reached.append(1 + sum(same))
        partitions.append(partition)
        # Where even the mixtures still to fit could not make one of the
        # partitions so far reached often enough, the test has failed.
        if max(reached) + n_left < settings.min_reached:
            return False
    doubled = _mixture(2 * n_clusters, 1, settings, random_state)
    return bic <= doubled.fit(features).bic(features)


COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def mixture_from_labels(
    features: np.ndarray, labels: np.ndarray, n_clusters: int, reg_covar: float
) -> GaussianMixture | None:
    """The Gaussian mixture EM reaches from the clusters ``labels``; None
    if a cluster has fewer than two samples.

    EM runs once for each covariance type of
    :class:`~sklearn.mixture.GaussianMixture`, each started from the
    clusters' own weights, means and covariances, and the mixture with the
    lowest BIC is kept. Groups of similar, round shape are
    described as well by one shared or spherical covariance as by a full one
    per cluster, with far fewer parameters; fitting full covariances to them
    from a few hundred samples lets the boundaries follow noise.
    """
    counts = np.bincount(labels, minlength=n_clusters)
    if counts.min() < 2:
        return None
    mixtures = [
        _mixture_from(features, labels, counts, covariance_type, reg_covar)
        for covariance_type in COVARIANCE_TYPES
    ]
    return min(mixtures, key=lambda mixture: mixture.bic(features))


def _mixture_from(
    features: np.ndarray,
    labels: np.ndarray,
    counts: np.ndarray,
    covariance_type: str,
    reg_covar: float,
) -> GaussianMixture:
    """A mixture of ``covariance_type`` fitted by EM from the clusters."""
    n_clusters = counts.size
    means = np.stack([features[labels == k].mean(0) for k in range(n_clusters)])
    mixture = GaussianMixture(
        n_clusters,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        max_iter=500,
        weights_init=counts / counts.sum(),
        means_init=means,
        precisions_init=initial_precisions(
            features - means[labels], labels, n_clusters, covariance_type, reg_covar
        ),
    )
    return mixture.fit(features)


def initial_precisions(
    centred: np.ndarray,
    labels: np.ndarray,
    n_clusters: int,
    covariance_type: str,
    reg_covar: float,
) -> np.ndarray:
    """The precisions of the clusters ``labels`` in the shape
    :class:`~sklearn.mixture.GaussianMixture` takes for ``covariance_type``;
    ``centred`` holds each sample less its cluster's mean, and ``reg_covar``
    is added to the covariances' diagonals, as in EM's M step."""
    n_samples, n_features = centred.shape
    ridge = reg_covar * np.eye(n_features)
    if covariance_type == "tied":
        return np.linalg.inv(centred.T @ centred / n_samples + ridge)
    members = [centred[labels == k] for k in range(n_clusters)]
    if covariance_type == "full":
        return np.stack(
            [np.linalg.inv(part.T @ part / len(part) + ridge) for part in members]
        )
    variances = np.stack([(part**2).mean(0) + reg_covar for part in members])
    if covariance_type == "diag":
        return 1.0 / variances
    return 1.0 / variances.mean(1)  # spherical


def _mixture(
    n_components: int,
    n_init: int,
    settings: InputMixtureSettings,
    random_state: np.random.RandomState,
) -> GaussianMixture:
    return GaussianMixture(
        n_components,
        covariance_type="full",
        reg_covar=settings.reg_covar,
        n_init=n_init,
        random_state=random_state.randint(np.iinfo(np.int32).max),
    )

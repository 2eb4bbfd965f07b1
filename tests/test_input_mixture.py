"""The graph start's refinement by a Gaussian mixture of the input."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_blobs, make_circles, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture._gaussian_mixture import _estimate_gaussian_parameters
from sklearn.preprocessing import StandardScaler

from skgmvae import _input_mixture
from skgmvae._input_mixture import (
    COVARIANCE_TYPES,
    InputMixtureSettings,
    gaussian_groups,
    initial_precisions,
    mixture_from_labels,
    refine_start,
)

SETTINGS = InputMixtureSettings()


def _touching_blobs(seed=0):
    """Three elongated Gaussian clouds whose tails touch."""
    X, y = make_blobs(600, centers=[[0, 0], [4, 0], [2, 4]], random_state=seed)
    return X @ np.array([[1.0, 0.3], [0.0, 0.6]]), y


def test_gaussian_clouds_pass_the_test():
    X, _ = _touching_blobs()
    rng = np.random.RandomState(0)
    assert gaussian_groups(X, 3, SETTINGS, random_state=rng)


def test_repeated_rows_are_tested_once():
    # Iris with each row 20 times: with every copy, the doubled mixture puts
    # narrow components on the copies and BIC prefers it.
    X = StandardScaler().fit_transform(load_iris().data)
    repeated = np.repeat(X, 20, axis=0)
    for seed in range(3):
        rng = np.random.RandomState(seed)
        assert gaussian_groups(repeated, 3, SETTINGS, random_state=rng)


@pytest.mark.parametrize(
    "make",
    [
        # Stable, but each moon needs more than one Gaussian (BIC).
        lambda: make_moons(600, noise=0.06, random_state=0),
        # The rings give different partitions from different initialisations.
        lambda: make_circles(600, noise=0.05, factor=0.5, random_state=0),
    ],
)
def test_curved_groups_fail_the_test(make):
    X, _ = make()
    assert not gaussian_groups(X, 2, SETTINGS, random_state=np.random.RandomState(0))


def test_too_few_rows_for_the_doubled_mixture_fail_the_test():
    # 2 * 3 components need more than 6 * (20 + 1) rows in 20 dimensions.
    X, _ = make_blobs(120, n_features=20, centers=3, random_state=0)
    assert not gaussian_groups(X, 3, SETTINGS, random_state=np.random.RandomState(0))


def test_refinement_mends_a_noisy_start_on_gaussian_clouds():
    X, y = _touching_blobs()
    rng = np.random.RandomState(1)
    start = y.copy()
    moved = rng.rand(y.size) < 0.15
    start[moved] = rng.randint(3, size=moved.sum())
    refined = refine_start(X, start, 3, SETTINGS, random_state=rng)
    # The clouds' tails overlap, so even EM from the true groups gets some
    # samples wrong; from the noisy start it must reach nearly its partition.
    from_truth = mixture_from_labels(X, y, 3, SETTINGS.reg_covar).predict(X)
    assert adjusted_rand_score(from_truth, refined) > 0.95
    assert adjusted_rand_score(y, refined) > adjusted_rand_score(y, start) + 0.2


def test_refinement_leaves_a_start_on_curved_groups_alone():
    X, y = make_moons(600, noise=0.06, random_state=0)
    refined = refine_start(X, y, 2, SETTINGS, random_state=np.random.RandomState(0))
    assert refined is None


def test_refinement_is_reproducible():
    X, y = _touching_blobs(seed=2)
    start = np.roll(y, 5)
    first = refine_start(X, start, 3, SETTINGS, random_state=np.random.RandomState(7))
    second = refine_start(X, start, 3, SETTINGS, random_state=np.random.RandomState(7))
    np.testing.assert_array_equal(first, second)


def test_a_cluster_too_small_for_a_covariance_gives_no_refinement():
    X, y = _touching_blobs()
    start = y.copy()
    start[start == 2] = 1
    start[0] = 2  # one sample: no covariance to start EM from
    assert mixture_from_labels(X, start, 3, SETTINGS.reg_covar) is None
    refined = refine_start(X, start, 3, SETTINGS, random_state=np.random.RandomState(0))
    assert refined is None


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_start_of_em_is_the_clusters_own_m_step(covariance_type):
    X, y = _touching_blobs()
    means = np.stack([X[y == k].mean(0) for k in range(3)])
    precisions = initial_precisions(X - means[y], y, 3, covariance_type, 1e-3)
    *_, covariances = _estimate_gaussian_parameters(
        X, np.eye(3)[y], 1e-3, covariance_type
    )
    if covariance_type in ("full", "tied"):
        expected = np.linalg.inv(covariances)
    else:
        expected = 1.0 / covariances
    np.testing.assert_allclose(precisions, expected, rtol=1e-8)


def test_bic_chooses_the_covariance_type_of_the_refinement():
    # Round groups of equal spread in 10-D are described by one variance
    # each; the iris species, elongated differently, need full covariances.
    X, y = make_blobs(300, n_features=10, centers=3, cluster_std=3.0, random_state=0)
    mixture = mixture_from_labels(X, y, 3, SETTINGS.reg_covar)
    assert mixture.covariance_type == "spherical"
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    assert mixture_from_labels(X, y, 3, SETTINGS.reg_covar).covariance_type == "full"


def test_a_subset_of_rows_is_tested_on_large_data():
    X, _ = _touching_blobs()
    small = InputMixtureSettings(max_rows=200)
    assert gaussian_groups(X, 3, small, random_state=np.random.RandomState(0))
    tiny = InputMixtureSettings(max_rows=30)  # too few for 6 components in 2-D
    assert not gaussian_groups(X, 3, tiny, random_state=np.random.RandomState(0))


def _unequal_sheared_blobs(seed=0):
    """Gaussian groups of 600, 300 and 100 samples, sheared in 5-D."""
    X, y = make_blobs(
        [600, 300, 100], n_features=5, cluster_std=[2.0, 1.0, 0.5], random_state=seed
    )
    X = X @ np.random.RandomState(seed).normal(size=(5, 5))
    return StandardScaler().fit_transform(X), y


def _passes(X, n_clusters, settings, n_draws=10):
    return sum(
        gaussian_groups(X, n_clusters, settings, random_state=np.random.RandomState(s))
        for s in range(n_draws)
    )


def test_unequal_gaussian_groups_pass_the_test():
    # A single k-means start often splits the largest group and EM keeps
    # the split; the better of two starts per mixture mostly reaches the
    # groups.
    X, _ = _unequal_sheared_blobs()
    assert _passes(X, 3, SETTINGS) >= 8
    assert _passes(X, 3, InputMixtureSettings(inits_per_mixture=1)) <= 6


def test_the_test_stops_once_no_partition_can_be_reached_often_enough(monkeypatch):
    fitted = []
    mixture = _input_mixture._mixture

    def counted(n_components, *args):
        fitted.append(n_components)
        return mixture(n_components, *args)

    monkeypatch.setattr(_input_mixture, "_mixture", counted)
    X = np.random.RandomState(0).uniform(size=(600, 2))  # no groups at all
    assert not gaussian_groups(X, 5, SETTINGS, random_state=np.random.RandomState(0))
    # Stopped before the fifth mixture, and so before the doubled one.
    assert fitted == [5] * len(fitted) and len(fitted) < SETTINGS.n_init

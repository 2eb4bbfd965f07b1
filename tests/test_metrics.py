"""Tests of skgmvae.metrics.cluster_accuracy."""

from itertools import permutations

import numpy as np
import pytest

from skgmvae.metrics import cluster_accuracy


def brute_force_accuracy(labels_true, labels_pred) -> float:
    """Best one-to-one map from clusters to classes, by enumeration."""
    classes = list(np.unique(labels_true))
    clusters = list(np.unique(labels_pred))
    # Pad with dummy classes so every cluster gets a (possibly unused) class.
    targets = classes + [None] * max(0, len(clusters) - len(classes))
    best = 0
    for image in permutations(targets, len(clusters)):
        mapping = dict(zip(clusters, image, strict=True))
        hits = sum(
            mapping[c] == t for t, c in zip(labels_true, labels_pred, strict=True)
        )
        best = max(best, hits)
    return best / len(labels_true)


def test_identical_labels_give_one():
    y = np.array([0, 1, 2, 2, 1, 0, 3])
    assert cluster_accuracy(y, y) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_permuted_cluster_names_give_one(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, size=200)
    renaming = rng.permutation(6) + 10
    assert cluster_accuracy(y, renaming[y]) == 1.0


def test_hand_computed_case():
    # Contingency [[2, 1], [0, 3]]: the diagonal match gets 5 of 6 right.
    assert cluster_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]) == pytest.approx(
        5 / 6
    )


def test_matching_is_one_to_one_not_majority_vote():
    # Both clusters are mostly class 0; a majority vote (purity) would give
    # 4/6, but only one cluster may take class 0.
    labels_true = [0, 0, 1, 0, 0, 1]
    labels_pred = [0, 0, 0, 1, 1, 1]
    assert cluster_accuracy(labels_true, labels_pred) == pytest.approx(3 / 6)


def test_more_clusters_than_classes():
    # Four singleton clusters, two classes: only two clusters get a class.
    assert cluster_accuracy([0, 0, 1, 1], [0, 1, 2, 3]) == pytest.approx(0.5)


def test_fewer_clusters_than_classes():
    assert cluster_accuracy([0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 1, 1]) == pytest.approx(
        4 / 6
    )


def test_single_cluster_scores_largest_class_fraction():
    y = np.array([0] * 5 + [1] * 3 + [2] * 2)
    assert cluster_accuracy(y, np.zeros_like(y)) == pytest.approx(0.5)


def test_string_and_mixed_label_types():
    assert cluster_accuracy(["a", "a", "b", "c"], [7, 7, 3, 3]) == pytest.approx(0.75)


@pytest.mark.parametrize("seed", range(20))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_classes, n_clusters = rng.integers(1, 5, size=2)
    labels_true = rng.integers(0, n_classes, size=15)
    labels_pred = rng.integers(0, n_clusters, size=15)
    expected = brute_force_accuracy(labels_true, labels_pred)
    assert cluster_accuracy(labels_true, labels_pred) == pytest.approx(expected)
    # Swapping the arguments transposes the contingency matrix only.
    assert cluster_accuracy(labels_pred, labels_true) == pytest.approx(expected)


def test_returns_python_float_in_unit_interval():
    score = cluster_accuracy(np.array([1, 2, 2]), np.array([0, 0, 1]))
    assert type(score) is float
    assert 0.0 <= score <= 1.0


def test_column_vectors_are_accepted():
    y = np.array([[0], [1], [1]])
    assert cluster_accuracy(y, y.ravel()) == 1.0


def test_two_dimensional_labels_raise():
    with pytest.raises(ValueError, match="1d"):
        cluster_accuracy([[0, 1], [1, 0]], [[0, 1], [1, 0]])


def test_inconsistent_lengths_raise():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        cluster_accuracy([0, 1, 1], [0, 1])


def test_empty_input_raises():
    with pytest.raises(ValueError, match="at least one sample"):
        cluster_accuracy([], [])

"""Metrics for evaluating a clustering against ground-truth classes."""

from __future__ import annotations

from scipy.optimize import linear_sum_assignment
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils import check_consistent_length, column_or_1d

__all__ = ["cluster_accuracy"]


def cluster_accuracy(labels_true, labels_pred) -> float:
    r"""Unsupervised clustering accuracy (ACC) with the Hungarian matching.

    Cluster labels are arbitrary, so each predicted cluster is first mapped
    to a distinct class by the one-to-one assignment that maximises the
    number of correctly labelled samples; ACC is the fraction of samples
    whose class equals the class assigned to their cluster:

    .. math::

        \mathrm{ACC} = \max_{m} \frac{1}{n} \sum_{i=1}^{n}
        \mathbb{1}\{y_i = m(c_i)\}

    where :math:`m` ranges over the one-to-one maps from clusters to
    classes. The best map is found with the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) on the contingency
    matrix. When there are more clusters than classes, the samples of the
    clusters left without a class count as errors; when there are fewer,
    some classes get no cluster. The score is invariant to any permutation
    of the cluster labels.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth class labels.

    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate.

    Returns
    -------
    accuracy : float
        Accuracy in [0, 1]; 1 means the clusters match the classes exactly
        up to a renaming.

    See Also
    --------
    sklearn.metrics.normalized_mutual_info_score : Normalized mutual
        information between two clusterings.
    sklearn.metrics.adjusted_rand_score : Rand index adjusted for chance.

    Notes
    -----
    This is the ACC used to report deep clustering results, for example by
    Xie, Girshick and Farhadi, "Unsupervised Deep Embedding for Clustering
    Analysis" (ICML 2016), and by Jiang et al., "Variational Deep Embedding:
    An Unsupervised and Generative Approach to Clustering" (IJCAI 2017).
    Unlike purity, it does not allow several clusters to share a class, so
    it cannot be raised by splitting clusters.

    Examples
    --------
    >>> from skgmvae.metrics import cluster_accuracy
    >>> cluster_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> cluster_accuracy([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1])
    0.666...
    >>> cluster_accuracy(["a", "a", "b"], [5, 7, 7])
    0.666...
    """
    labels_true = column_or_1d(labels_true)
    labels_pred = column_or_1d(labels_pred)
    check_consistent_length(labels_true, labels_pred)
    n_samples = labels_true.shape[0]
    if n_samples == 0:
        raise ValueError("cluster_accuracy needs at least one sample, got 0.")
    contingency = contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    return float(contingency[rows, cols].sum() / n_samples)

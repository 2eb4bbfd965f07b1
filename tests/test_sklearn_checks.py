"""scikit-learn's estimator checks, on the defaults and on a small network."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skgmvae import GMVAEClassifier, GMVAEClustering

# Each check fits on a few dozen samples; the small network keeps the run
# short while still separating check_clustering's three blobs.
SMALL = GMVAEClustering(
    hidden_layer_sizes=(32,),
    latent_dim=2,
    max_iter=10,
    pretrain_iter=10,
    device="cpu",
    random_state=0,
)
DEFAULTS = GMVAEClustering(random_state=0)
# The classifier's checks, with defaults, fit on fully labelled data.
CLASSIFIER = GMVAEClassifier(random_state=0)

pytestmark = [
    # Numerical trouble (overflow, invalid values) must not pass silently.
    pytest.mark.filterwarnings("error::RuntimeWarning"),
    # The checks fit small models for a few epochs: stopping at max_iter and
    # leaving some clusters empty on their random data are expected.
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:Only \\d+ of n_clusters:UserWarning"),
]


@parametrize_with_checks([SMALL, DEFAULTS, CLASSIFIER])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)

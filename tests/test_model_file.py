"""Model files: what a pickle holds, and a file of this version still loads."""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits

from skgmvae import GMVAEClustering, __version__

DATA = Path(__file__).resolve().parent / "data"

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:Only .* clusters:UserWarning",
)


def _size(model) -> int:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return len(buffer.getvalue())


def test_a_file_of_this_version_loads_and_predicts_as_saved():
    # Written by tests/data/make_model_file.py; rewrite it there when the
    # file format changes on purpose.
    X = load_digits().data[:300] / 16.0
    with warnings.catch_warnings():
        # The file may come from another scikit-learn release than the one
        # installed; what matters here is skgmvae's own format.
        warnings.simplefilter("ignore", UserWarning)
        model = joblib.load(DATA / f"gmvae-{__version__}.joblib")
    expected = np.load(DATA / f"gmvae-{__version__}-expected.npz")
    np.testing.assert_array_equal(model.predict(X), expected["labels"])
    # Bitwise on the machine that wrote it; other CPUs may sum in another
    # order in the last bits.
    np.testing.assert_allclose(model.predict_proba(X), expected["proba"], rtol=1e-5)
    np.testing.assert_allclose(
        model.score_samples(X), expected["score_samples"], rtol=1e-5
    )


def test_the_optimizer_state_is_stored_only_where_training_may_continue(digits01, fast):
    X = digits01[0]
    model = GMVAEClustering(**{**fast, "n_clusters": 3, "random_state": 0}).fit(X)
    lean = _size(model)
    model.set_params(warm_start=True)
    assert lean < 0.5 * _size(model)
    loaded = pickle.loads(pickle.dumps(model.set_params(warm_start=False)))
    assert loaded._optimizer_state is None
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # A loaded model still continues training, from a fresh optimizer.
    n_steps = loaded.n_steps_
    loaded.set_params(warm_start=True, max_iter=1).fit(X)
    assert loaded.n_steps_ > n_steps
    assert len(loaded.history_) == len(model.history_) + 1 + loaded.average_epochs
    # A model trained by partial_fit keeps it.
    streamed = GMVAEClustering(**{**fast, "n_clusters": 3}).partial_fit(X)
    assert pickle.loads(pickle.dumps(streamed))._optimizer_state is not None

"""Fuzzing fit, partial_fit and the prediction methods with odd arrays.

Every call must either work, with finite outputs, or raise a ``ValueError``
or ``TypeError`` with a message, raised by skgmvae or scikit-learn rather
than deep inside torch. The profile is derandomized, without a database;
the examples still depend on the numbers Hypothesis collects from the
project's modules imported so far (its "local constants").
"""

from __future__ import annotations

import traceback
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skgmvae import GMVAEClustering

N_EXAMPLES = 100

SPECIAL = [
    0.0,
    1.0,
    -1.0,
    0.5,
    255.0,
    1e-30,
    -1e-30,
    1e-300,
    5e-324,
    1e6,
    1e15,
    1e16,
    -1e30,
    1e30,
    3.5e38,
    1e300,
    np.nan,
    np.inf,
    -np.inf,
]
DTYPES = [
    "float64",
    "float32",
    "float16",
    "int64",
    "int8",
    "uint8",
    "bool",
    "object",
    "complex128",
]


@st.composite
def fit_settings(draw, n_samples, *, at_most_samples=False):
    """``n_clusters`` (one per sample, or 1 to 4; with ``at_most_samples``
    no more than there are samples, which a fit requires) and
    ``init_params``."""
    largest = min(4, n_samples) if at_most_samples else 4
    n_clusters = draw(st.one_of(st.just(max(n_samples, 1)), st.integers(1, largest)))
    init_params = draw(st.sampled_from(["graph", "gmm", "random", "spectral"]))
    return n_clusters, init_params


@st.composite
def well_formed_arrays(draw):
    """A 2-D array of finite values up to the thousands, which a fit must
    accept."""
    n_samples = draw(st.integers(2, 12))
    n_features = draw(st.integers(1, 5))
    scale = draw(st.sampled_from([1.0, 1e-3, 10.0, 1e3]))
    elements = st.floats(-3, 3).map(lambda v: v * scale)
    X = draw(hnp.arrays(np.float64, (n_samples, n_features), elements=elements))
    X = X.astype(draw(st.sampled_from(["float64", "float32", "int64"])))
    return (X, *draw(fit_settings(n_samples, at_most_samples=True)), True)


@st.composite
def odd_arrays(draw):
    """A 2-D float64 base array, then odd structure, dtype and shape."""
    n_samples = draw(st.integers(0, 12))
    n_features = draw(st.integers(0, 5))
    scale = draw(st.sampled_from([1.0, 1.0, 1e-30, 1e3, 1e12, 1e30]))
    elements = st.one_of(
        st.floats(-3, 3).map(lambda v: v * scale),
        st.floats(0, 1),
        st.sampled_from(SPECIAL),
    )
    X = draw(hnp.arrays(np.float64, (n_samples, n_features), elements=elements))
    if n_samples and n_features and draw(st.booleans()):
        X[:, draw(st.integers(0, n_features - 1))] = draw(st.sampled_from(SPECIAL))
    if n_samples > 1 and draw(st.booleans()):
        X[1:] = X[0]  # every row the same
    elif n_samples > 2 and draw(st.booleans()):
        X[n_samples // 2 :] = X[: n_samples - n_samples // 2]  # duplicated rows
    dtype = draw(st.sampled_from(DTYPES))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        X = X.astype(object) if dtype == "object" else X.astype(dtype)
    shape = draw(st.sampled_from(["2d", "2d", "2d", "2d", "1d", "3d", "list"]))
    if shape == "1d":
        X = X.ravel()
    elif shape == "3d":
        X = X[..., None]
    elif shape == "list":
        X = X.tolist()
    return (X, *draw(fit_settings(n_samples)), False)


def _raised_by_torch(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and "/torch/" in frames[-1].filename.replace("\\", "/")


def _call(fn, *args):
    """``fn(*args)``, or None when it raised a clear ValueError or TypeError."""
    try:
        return fn(*args)
    except (ValueError, TypeError) as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        assert not _raised_by_torch(exc), f"raw torch error: {exc!r}"
        return None


def _assert_finite(value, name):
    array = np.asarray(value, dtype=np.float64)
    assert np.isfinite(array).all(), f"{name} is not finite: {value!r}"


@pytest.fixture(scope="module")
def counter():
    counts = {"examples": 0, "fitted": 0}
    yield counts
    print(f"\nfuzz: {counts['examples']} examples, {counts['fitted']} fitted")


@pytest.mark.filterwarnings("ignore")
def test_fuzz_fit_and_predict(fast, counter):
    # Half the cases are well formed, so that about half reach a fitted
    # model: Hypothesis also draws constants from the modules already
    # imported, so the cases, and how many of them fit, change with the
    # tests run before this one.
    cases = st.one_of(well_formed_arrays(), odd_arrays())

    @settings(
        max_examples=N_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, method=st.sampled_from(["fit", "partial_fit"]))
    def check(case, method):
        X, n_clusters, init_params, well_formed = case
        counter["examples"] += 1
        params = dict(fast, max_iter=2, n_clusters=n_clusters, random_state=0)
        model = GMVAEClustering(init_params=init_params, **params)
        if _call(getattr(model, method), X) is None:
            assert not well_formed, "a well-formed array was refused"
            assert not hasattr(model, "labels_")
            return
        counter["fitted"] += 1
        n = model.labels_.shape[0]
        assert model.labels_.min() >= 0 and model.labels_.max() < n_clusters
        _assert_finite(model.lower_bound_, "lower_bound_")
        labels = _call(model.predict, X)
        if labels is not None:
            assert labels.shape == (n,)
            assert labels.min() >= 0 and labels.max() < n_clusters
        proba = _call(model.predict_proba, X)
        if proba is not None:
            _assert_finite(proba, "predict_proba")
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
        for name in ("transform", "score_samples"):
            out = _call(getattr(model, name), X)
            if out is not None:
                _assert_finite(out, name)

    check()
    assert counter["examples"] >= N_EXAMPLES
    # Enough of the cases get as far as a fitted model to test prediction.
    assert counter["fitted"] >= N_EXAMPLES // 5

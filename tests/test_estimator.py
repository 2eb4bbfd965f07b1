"""Behaviour of GMVAEClustering as a scikit-learn estimator."""

from __future__ import annotations

import copy
import pickle
import re
import warnings
from dataclasses import replace
from types import SimpleNamespace

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine, make_blobs, make_circles
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import skgmvae._losses as losses_module
import skgmvae._training as training_module
from skgmvae import GMVAEClustering
from skgmvae._fitting import _held_until, fresh_state, new_module, train_elbo
from skgmvae._training import FixedEpochs, batch_bounds
from skgmvae._warmup import WarmupResult
from skgmvae.datasets import load_dataset

pytestmark = [
    pytest.mark.filterwarnings("error"),
    # Tiny configurations stop at max_iter on purpose.
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # ... and may leave clusters empty.
    pytest.mark.filterwarnings("ignore:Only \\d+ of n_clusters:UserWarning"),
]


def _model(fast, **params) -> GMVAEClustering:
    return GMVAEClustering(**{**fast, "n_clusters": 4, "random_state": 0, **params})


@pytest.fixture(scope="module")
def fitted(digits01, fast):
    """One small model fitted on digits, shared by read-only tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Only", UserWarning)
        return _model(fast).fit(digits01[0])


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if training starts: validation must come first."""

    def fail(*args, **kwargs):
        raise AssertionError("training started before the input was rejected")

    monkeypatch.setattr(training_module, "_run_epoch", fail)


def _same_rng_state(a, b) -> bool:
    return all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
        for x, y in zip(a, b, strict=True)
    )


# -------------------------------------------------------------- predictions
def test_fit_predict_equals_fit_then_predict(digits01, fast):
    X = digits01[0]
    labels = _model(fast).fit_predict(X)
    model = _model(fast).fit(X)
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_array_equal(model.labels_, model.predict(X))
    assert labels.shape == (X.shape[0],)
    assert np.issubdtype(labels.dtype, np.integer)


def test_predict_proba_rows_sum_to_one(fitted, digits01):
    X = digits01[0]
    proba = fitted.predict_proba(X)
    assert proba.shape == (X.shape[0], 4)
    assert proba.dtype == np.float64
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(fitted.predict(X), proba.argmax(axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_shape_dtype_and_determinism(fitted, digits01, fast, dtype):
    X = digits01[0].astype(dtype)
    Z = fitted.transform(X)
    assert Z.shape == (X.shape[0], fast["latent_dim"])
    assert Z.dtype == dtype
    np.testing.assert_array_equal(Z, fitted.transform(X))
    assert np.isfinite(Z).all()
    # Not a constant map.
    assert np.ptp(Z, axis=0).min() > 0


def test_transform_of_integer_input_is_float64(fitted, digits01):
    X = (digits01[0] > 0.5).astype(np.int64)
    assert fitted.transform(X).dtype == np.float64


def test_feature_names_out(fitted, fast):
    names = fitted.get_feature_names_out()
    assert list(names) == [f"gmvaeclustering{i}" for i in range(fast["latent_dim"])]


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "transform", "score_samples"]
)
def test_methods_invariant_to_order_and_subsets(fitted, digits01, method):
    X = digits01[0]
    fn = getattr(fitted, method)
    full = fn(X)
    perm = np.random.default_rng(1).permutation(X.shape[0])
    subsets = [perm, np.arange(10, 50), np.array([7]), np.arange(0, X.shape[0], 3)]
    for rows in subsets:
        # Fixed-shape prediction chunks make results bitwise identical.
        np.testing.assert_array_equal(fn(X[rows]), full[rows])


def test_score_is_mean_elbo(fitted, digits01):
    X = digits01[0]
    scores = fitted.score_samples(X)
    assert scores.shape == (X.shape[0],)
    assert np.isfinite(scores).all()
    assert fitted.score(X) == pytest.approx(scores.mean(), rel=1e-9)
    # lower_bound_ is the same mean ELBO, on the training data.
    assert fitted.lower_bound_ == pytest.approx(fitted.score(X), rel=1e-5)
    # An ELBO is a bound on a log-probability of Bernoulli data: negative.
    assert scores.max() < 0


def test_fitted_attributes(fitted, digits01, fast):
    X = digits01[0]
    assert fitted.n_features_in_ == X.shape[1]
    assert fitted.labels_.shape == (X.shape[0],)
    assert set(np.unique(fitted.labels_)) <= set(range(4))
    assert fitted.n_iter_ == len(fitted.history_) == len(fitted.loss_curve_)
    assert 1 <= fitted.n_iter_ <= fast["max_iter"] + fitted.average_epochs
    assert fitted.loss_curve_ == [r["loss"] for r in fitted.history_]
    assert all(np.isfinite(fitted.loss_curve_))
    assert fitted.device_ == "cpu"
    assert isinstance(fitted.converged_, bool)
    assert isinstance(fitted.module_, torch.nn.Module)
    assert not fitted.module_.training


# ---------------------------------------------------------- reproducibility
def test_same_seed_same_model(digits01, fast):
    X = digits01[0]
    a, b = _model(fast).fit(X), _model(fast).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert a.lower_bound_ == b.lower_bound_
    np.testing.assert_array_equal(a.sample(5)[0], b.sample(5)[0])


def test_different_seeds_differ(digits01, fast):
    X = digits01[0]
    a = _model(fast, random_state=0).fit(X)
    b = _model(fast, random_state=1).fit(X)
    assert not np.allclose(a.predict_proba(X), b.predict_proba(X))


def test_random_state_instance_is_accepted(digits01, fast):
    X = digits01[0]
    a = _model(fast, random_state=np.random.RandomState(3)).fit(X)
    b = _model(fast, random_state=3).fit(X)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_float32_and_float64_input_fit_the_same_model(digits01, fast):
    X = digits01[0]
    a = _model(fast).fit(X)
    b = _model(fast).fit(X.astype(np.float32))
    np.testing.assert_array_equal(a.labels_, b.labels_)


@pytest.mark.parametrize("random_state", [0, None])
def test_fit_leaves_global_rngs_alone(digits01, fast, random_state):
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()  # noqa: NPY002 - the global RNG is the point
    model = _model(fast, random_state=random_state, n_init=2).fit(digits01[0])
    model.predict_proba(digits01[0])
    model.score(digits01[0])
    model.sample(3)
    assert torch.equal(torch.get_rng_state(), torch_state)
    if random_state is not None:
        # random_state=None draws from numpy's global RNG, as in scikit-learn.
        assert _same_rng_state(np.random.get_state(), numpy_state)  # noqa: NPY002


# -------------------------------------------------------------- persistence
def test_pickle_round_trip(fitted, digits01):
    X = digits01[0]
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(loaded.score_samples(X), fitted.score_samples(X))
    # Pickling copies: the fitted model keeps working.
    assert loaded.module_ is not fitted.module_


def test_joblib_round_trip(fitted, digits01, tmp_path):
    X = digits01[0]
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_unpickled_model_can_continue_training(fitted, digits01):
    X = digits01[0]
    loaded = pickle.loads(pickle.dumps(fitted))
    n_before = len(loaded.history_)
    loaded.set_params(warm_start=True, max_iter=1).fit(X)
    assert len(loaded.history_) == n_before + 1 + loaded.average_epochs


def test_clone_is_unfitted(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "module_")
    with pytest.raises(NotFittedError):
        copy.predict(np.zeros((2, 64)))


@pytest.mark.parametrize("n_samples", [10, 60])
def test_gaussian_data_in_the_thousands_are_scaled_inside_the_model(n_samples):
    # Unscaled features in the thousands used to overflow q(z | x, y)'s
    # variance in the first ELBO steps on small data.
    X, y = make_blobs(n_samples, centers=[[0, 0], [8, 8]], random_state=0)
    model = GMVAEClustering(n_clusters=2, random_state=0).fit(1000 * X + 500)
    assert model.likelihood_ == "gaussian" and model.module_.input_scaled
    assert adjusted_rand_score(y, model.labels_) == 1.0
    assert np.isfinite(model.score_samples(1000 * X + 500)).all()


def test_standardised_data_are_passed_as_they_are(fast):
    X = StandardScaler().fit_transform(load_wine().data)
    model = GMVAEClustering(n_clusters=3, **fast).fit(X)
    assert model.likelihood_ == "gaussian" and not model.module_.input_scaled


# --------------------------------------------------------------- meta tools
def test_pipeline_with_minmax_scaler(digits01, fast):
    X = digits01[0] * 16  # raw pixel counts, 0 to 16
    pipe = make_pipeline(MinMaxScaler(), _model(fast))
    labels = pipe.fit_predict(X)
    model = pipe[-1]
    assert model.likelihood_ == "bernoulli"
    np.testing.assert_array_equal(labels, pipe.predict(X))
    np.testing.assert_array_equal(labels, model.predict(pipe[0].transform(X)))
    assert pipe.transform(X).shape == (X.shape[0], fast["latent_dim"])


def test_grid_search_scores_with_the_mean_elbo(digits01, fast):
    X = digits01[0][:200]
    train, test = np.arange(0, 200, 2), np.arange(1, 200, 2)
    grid = GridSearchCV(
        _model(fast), {"n_clusters": [2, 5]}, cv=[(train, test)], refit=True
    ).fit(X)
    scores = grid.cv_results_["mean_test_score"]
    expected = [_model(fast, n_clusters=k).fit(X[train]).score(X[test]) for k in (2, 5)]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert grid.best_params_["n_clusters"] == (2, 5)[int(np.argmax(expected))]
    assert grid.best_estimator_.n_clusters == grid.best_params_["n_clusters"]


# ----------------------------------------------------------------- sampling
def test_sample(fitted, fast):
    X, y = fitted.sample(40)
    assert X.shape == (40, fitted.n_features_in_)
    assert y.shape == (40,)
    assert np.issubdtype(y.dtype, np.integer)
    assert y.min() >= 0 and y.max() < fitted.n_clusters
    # Bernoulli model: the means are probabilities.
    assert X.min() >= 0 and X.max() <= 1
    assert fitted.sample().__len__() == 2 and fitted.sample()[0].shape == (1, 64)


@pytest.mark.parametrize("n_samples", [0, -3, 2.5, "10"])
def test_sample_rejects_bad_counts(fitted, n_samples):
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(n_samples)


def test_sample_of_a_gaussian_model_is_real_valued(blobs, fast):
    X = blobs[0]
    model = _model(fast, n_clusters=3).fit(X)
    assert model.likelihood_ == "gaussian"
    samples, y = model.sample(30)
    assert samples.shape == (30, X.shape[1])
    assert np.isfinite(samples).all()
    assert set(np.unique(y)) <= {0, 1, 2}


# ------------------------------------------------------------- training run
def test_verbose_prints_one_line_per_epoch(digits01, fast, capsys):
    X = digits01[0]
    params = dict(tol=0.0, n_iter_no_change=50)
    _model(fast, verbose=0, max_iter=2, **params).fit(X)
    assert capsys.readouterr().out == ""
    lines = {}
    for max_iter in (2, 5):
        model = _model(fast, verbose=1, max_iter=max_iter, **params).fit(X)
        assert model.n_iter_ == max_iter + model.average_epochs
        lines[max_iter] = capsys.readouterr().out.strip().splitlines()
    assert len(lines[5]) - len(lines[2]) == 3
    # The epochs of the weight average follow, numbered on.
    averaged = [line for line in lines[5] if line.startswith("[ELBO, averaged]")]
    assert [line.split(":")[0] for line in averaged] == [
        f"[ELBO, averaged] epoch {5 + i}/9" for i in range(1, 5)
    ]
    # Each epoch line shows that epoch's loss.
    for record in model.history_:
        loss = f"{record['loss']:.4f}"
        assert any(loss in line for line in lines[5])


def test_convergence_warning_when_max_iter_is_hit(digits01, fast):
    model = _model(fast, max_iter=2, tol=0.0, n_iter_no_change=50)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        model.fit(digits01[0])
    assert not model.converged_
    assert model.n_iter_ == 2 + model.average_epochs


def test_no_convergence_warning_when_converged(digits01, fast):
    # The loosest tolerance: every epoch counts as stable.
    model = _model(fast, max_iter=10, tol=1.0, n_iter_no_change=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(digits01[0])
    assert model.converged_
    assert model.n_iter_ == 2 + model.average_epochs


def test_weight_averaging_follows_the_stop(digits01, fast):
    X = digits01[0]
    plain = _model(fast, max_iter=10, tol=1.0, n_iter_no_change=2, average_epochs=0)
    plain.fit(X)
    averaged = clone(plain).set_params(average_epochs=3).fit(X)
    # The same epochs up to the stop, then three more.
    assert averaged.converged_ and plain.converged_
    assert averaged.n_iter_ == plain.n_iter_ + 3 == len(averaged.history_)
    for record, same in zip(averaged.history_, plain.history_, strict=False):
        assert {**record, "seconds": 0} == {**same, "seconds": 0}
    # The network ends at the average, not at the last epoch's weights.
    # (The codes: on 300 samples every epoch here falls within the 100 steps
    # that hold q(y | x), so only the rest of the network trains.)
    assert not np.allclose(averaged.transform(X), plain.transform(X), rtol=0, atol=1e-4)
    assert averaged.lower_bound_ == pytest.approx(averaged.score(X), rel=1e-5)


def test_partial_fit_does_not_average(digits01, fast):
    X = digits01[0]
    model = _model(fast, average_epochs=5)
    model.partial_fit(X[:150]).partial_fit(X[150:])
    assert model.n_iter_ == len(model.history_) == 2


@pytest.mark.parametrize("name", ["iris", "wine"])
def test_default_fits_do_not_warn(name):
    # The loss of the stochastic objective keeps fluctuating; the clusters
    # settle, and stopping watches them.
    load = {"iris": load_iris, "wine": load_wine}[name]
    X = StandardScaler().fit_transform(load().data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", UserWarning)  # e.g. unused clusters
        model = GMVAEClustering(n_clusters=3, random_state=0).fit(X)
    assert model.converged_
    assert model.n_iter_ < model.max_iter
    assert all(0.0 <= r["changed"] <= 1.0 for r in model.history_)


def test_collapse_warning_when_clusters_are_unused(fast):
    # Two distinct points: identical inputs get identical cluster
    # probabilities, so at most two of five clusters can be used.
    X = np.repeat(np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]]), 10, axis=0)
    with pytest.warns(UserWarning, match=r"only 2 distinct sample.*n_clusters=5"):
        model = _model(fast, n_clusters=5).fit(X)
    assert np.unique(model.labels_).size <= 2


@pytest.mark.parametrize("init_params", ["graph", "gmm", "spectral", "random"])
def test_constant_data_gives_one_warning_that_names_the_problem(fast, init_params):
    # k-means, the mixture and PCA warn from inside the start on such data;
    # the user sees one warning, about the data.
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _model(fast, n_clusters=4, init_params=init_params).fit(np.ones((50, 3)))
    assert [str(w.message)[:28] for w in record] == ["X holds only 1 distinct samp"]
    assert record[0].filename == __file__


def test_warm_start_continues_training(digits01, fast):
    X = digits01[0]
    params = dict(
        tol=0.0,
        n_iter_no_change=50,
        max_iter=2,
        average_epochs=0,
        temperature_halflife=5.0,
        temperature_min=1e-6,
    )
    model = _model(fast, **params).fit(X)
    module = model.module_
    weights = copy.deepcopy(module.state_dict())
    history = list(model.history_)
    model.set_params(warm_start=True).fit(X)
    # A copy is trained further; the network fitted before is left as it was.
    assert model.module_ is not module
    torch.testing.assert_close(module.state_dict(), weights, rtol=0, atol=0)
    assert len(model.history_) == 4
    assert model.history_[:2] == history
    # The temperature schedule goes on from the last step, not from the start.
    temperatures = [r["temperature"] for r in model.history_]
    assert all(b < a for a, b in zip(temperatures, temperatures[1:], strict=False))
    # Without warm_start, fit starts over.
    model.set_params(warm_start=False).fit(X)
    assert model.module_ is not module
    assert len(model.history_) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"n_clusters": 3},
        {"latent_dim": 2},
        {"hidden_layer_sizes": (8, 8)},
        {"conditional_encoder": False},
    ],
)
def test_continued_training_cannot_change_the_network_shape(digits01, fast, change):
    X = digits01[0]
    model = _model(fast, warm_start=True).fit(X)
    proba = model.predict_proba(X)
    model.set_params(**change)
    ((name, value),) = change.items()
    with pytest.raises(ValueError, match=f"cannot change its shape: {name}="):
        model.fit(X)
    with pytest.raises(ValueError, match=f"cannot change its shape: {name}="):
        model.partial_fit(X)
    np.testing.assert_array_equal(model.predict_proba(X), proba)
    model.set_params(warm_start=False).fit(X)
    assert model.module_.architecture()[name] == value


def test_warm_start_rejects_a_different_number_of_features(digits01, fast):
    X = digits01[0]
    model = _model(fast, warm_start=True).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.fit(X[:, :10])


def test_n_init_keeps_the_best_elbo(digits01, fast, monkeypatch):
    X = digits01[0]
    trained = []
    original = training_module._run_epoch

    def recording_epoch(module, *args, **kwargs):
        if module not in trained:
            trained.append(module)
        return original(module, *args, **kwargs)

    monkeypatch.setattr(training_module, "_run_epoch", recording_epoch)
    model = _model(fast, n_init=3).fit(X)
    monkeypatch.undo()
    assert len(trained) == 3
    scores = []
    for module in trained:
        model_k = pickle.loads(pickle.dumps(model))
        model_k.module_ = module
        scores.append(model_k.score(X))
    assert model.module_ is trained[int(np.argmax(scores))]
    assert model.lower_bound_ == pytest.approx(max(scores), rel=1e-5)
    # The first initialisation is the one n_init=1 fits: never better.
    single = _model(fast, n_init=1).fit(X)
    assert single.lower_bound_ == pytest.approx(scores[0], rel=1e-5)
    assert model.lower_bound_ >= single.lower_bound_


def _options(name: str) -> list[str]:
    """Every valid value of a string parameter, from its constraint."""
    (constraint,) = GMVAEClustering._parameter_constraints[name]
    return sorted(constraint.options)


@pytest.mark.parametrize(
    "params",
    [
        *(
            {name: value}
            for name in ("init_params", "categorical", "precision")
            for value in _options(name)
        ),
        # Every switch away from its default (warm_start is tested apart).
        *(
            {name: not GMVAEClustering().get_params()[name]}
            for name, constraint in GMVAEClustering._parameter_constraints.items()
            if constraint == ["boolean"] and name != "warm_start"
        ),
        dict(reconstruction_weight=0.5, kl_z_weight=2.0, kl_y_weight=0.0),
        dict(hidden_layer_sizes=[16, 8]),
        dict(hidden_layer_sizes=np.array([16])),
        dict(batch_size=1000),
        dict(n_clusters=1),
    ],
    ids=str,
)
def test_options_fit_and_predict(digits01, fast, params):
    X = digits01[0][:120]
    model = _model(fast, **params).fit(X)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.isfinite(model.lower_bound_)


def test_likelihood_auto(digits01, blobs, fast):
    assert _model(fast).fit(digits01[0]).likelihood_ == "bernoulli"
    assert _model(fast, n_clusters=3).fit(blobs[0]).likelihood_ == "gaussian"
    # Slightly outside [0, 1]: Gaussian.
    X = digits01[0].copy()
    X[0, 0] = 1.01
    assert _model(fast).fit(X).likelihood_ == "gaussian"
    # An explicit choice is kept.
    model = _model(fast, likelihood="gaussian").fit(digits01[0])
    assert model.likelihood_ == "gaussian"


def test_nan_loss_raises_instead_of_returning_labels(digits01, fast, monkeypatch):
    def nan_loss(module, x, **kwargs):
        out = original(module, x, **kwargs)
        out.loss = out.loss * torch.nan
        return out

    original = losses_module.negative_elbo
    monkeypatch.setattr(losses_module, "negative_elbo", nan_loss)
    model = _model(fast)
    with (
        pytest.warns(RuntimeWarning, match="Non-finite training loss"),
        pytest.raises(FloatingPointError, match="NaN or infinite"),
    ):
        model.fit(digits01[0])
    assert not hasattr(model, "labels_")
    assert not hasattr(model, "module_")


def test_huge_learning_rate_raises_or_gives_a_finite_model(blobs, fast):
    X = blobs[0] * 1e3
    model = _model(fast, n_clusters=3, learning_rate_init=1e8, max_iter=5)
    try:
        with warnings.catch_warnings():
            # The loop's recoveries from non-finite losses are the point.
            warnings.filterwarnings("ignore", "Non-finite training loss")
            model.fit(X)
    except FloatingPointError as exc:
        assert re.search("NaN|non-finite", str(exc))
        assert not hasattr(model, "labels_")
    else:
        assert np.isfinite(model.lower_bound_)
        assert np.isfinite(model.predict_proba(X)).all()
        assert np.isfinite(model.score_samples(X)).all()


def test_keyboard_interrupt_keeps_a_usable_model(digits01, fast, monkeypatch):
    X = digits01[0]
    calls = {"n": 0}
    original = losses_module.negative_elbo
    # One batch per epoch: the third call to the ELBO loss is epoch 3.
    n_epochs_done = 2

    def interrupting_loss(module, x, **kwargs):
        calls["n"] += 1
        if calls["n"] > n_epochs_done:
            raise KeyboardInterrupt
        return original(module, x, **kwargs)

    monkeypatch.setattr(losses_module, "negative_elbo", interrupting_loss)
    model = _model(fast, batch_size=X.shape[0], max_iter=10, n_iter_no_change=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.warns(RuntimeWarning, match="nterrupted"):
            model.fit(X)
    assert model.n_iter_ == len(model.history_) == n_epochs_done
    assert not model.converged_
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_array_equal(model.labels_, proba.argmax(axis=1))
    assert np.isfinite(model.score(X))


# -------------------------------------------------------------- partial_fit
def test_partial_fit_builds_then_continues(digits01, fast):
    X = digits01[0]
    chunks = np.array_split(X, 3)
    model = _model(fast)
    model.partial_fit(chunks[0])
    assert model.n_iter_ == len(model.history_) == 1
    assert model.labels_.shape == (chunks[0].shape[0],)
    for i, chunk in enumerate(chunks[1:], start=2):
        model.partial_fit(chunk)
        assert model.n_iter_ == len(model.history_) == i
        assert model.labels_.shape == (chunk.shape[0],)
        np.testing.assert_array_equal(model.labels_, model.predict(chunk))
    # The temperature schedule runs on across calls.
    temperatures = [r["temperature"] for r in model.history_]
    assert all(b <= a for a, b in zip(temperatures, temperatures[1:], strict=False))
    np.testing.assert_allclose(model.predict_proba(X).sum(1), 1.0, rtol=1e-6)
    assert np.isfinite(model.lower_bound_)


def test_partial_fit_is_reproducible(digits01, fast):
    chunks = np.array_split(digits01[0], 2)
    a, b = _model(fast), _model(fast)
    for chunk in chunks:
        a.partial_fit(chunk)
        b.partial_fit(chunk)
    X = digits01[0]
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_partial_fit_leaves_global_rngs_alone(digits01, fast):
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()  # noqa: NPY002 - the global RNG is the point
    model = _model(fast)
    for chunk in np.array_split(digits01[0], 2):
        model.partial_fit(chunk)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert _same_rng_state(np.random.get_state(), numpy_state)  # noqa: NPY002


def test_partial_fit_after_fit_and_fit_after_partial_fit(digits01, fast):
    X = digits01[0]
    model = _model(fast, max_iter=2, tol=0.0, n_iter_no_change=50).fit(X)
    fit_epochs = 2 + model.average_epochs
    model.partial_fit(X[:50])  # one epoch, never averaged
    assert len(model.history_) == fit_epochs + 1
    model.set_params(warm_start=True).fit(X)
    assert len(model.history_) == 2 * fit_epochs + 1
    model.set_params(warm_start=False).fit(X)
    assert len(model.history_) == fit_epochs


def test_partial_fit_rejects_inconsistent_chunks(digits01, blobs, fast):
    X = digits01[0]
    model = _model(fast).partial_fit(X[:100])
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[:50, :10])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.partial_fit(X[:50] * 16)
    n_iter = model.n_iter_
    # A rejected chunk changes nothing.
    assert model.n_iter_ == n_iter == 1


@pytest.mark.usefixtures("no_training")
def test_partial_fit_first_chunk_smaller_than_n_clusters(digits01, fast):
    with pytest.raises(ValueError, match=r"n_samples=3.*n_clusters=4"):
        _model(fast).partial_fit(digits01[0][:3])


@pytest.mark.parametrize("stage", ["autoencoder_loss", "alignment_loss"])
def test_keyboard_interrupt_during_the_warm_up(digits01, fast, monkeypatch, stage):
    X = digits01[0]

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(losses_module, stage, interrupt)
    model = _model(fast, init_params="gmm")
    with pytest.warns(RuntimeWarning, match="nterrupted"):
        model.fit(X)
    assert model.n_iter_ == 0
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(model.labels_, proba.argmax(axis=1))


# --------------------------------------------------------------- bad inputs
@pytest.mark.usefixtures("no_training")
@pytest.mark.parametrize(
    ("X", "error", "message"),
    [
        (np.array([[0.1, np.nan], [0.2, 0.3]]), ValueError, "NaN"),
        (np.array([[0.1, np.inf], [0.2, 0.3]]), ValueError, "infinity"),
        (np.array([["a", "b"], ["c", "d"]], dtype=object), ValueError, "float"),
        (np.array([0.1, 0.2, 0.3, 0.4]), ValueError, "Expected 2D array"),
        (np.empty((0, 3)), ValueError, "0 sample"),
        (np.empty((3, 0)), ValueError, "0 feature"),
        (np.array([[0.5, 0.5]]), ValueError, "minimum of 2"),
        (sp.random(10, 4, density=0.5, format="csr"), TypeError, "dense data"),
        (np.array([[1e30, 0.0], [0.0, 1.0]]), ValueError, "magnitude"),
    ],
    ids=[
        "nan",
        "inf",
        "strings",
        "1d",
        "no-samples",
        "no-features",
        "one",
        "sparse",
        "huge",
    ],
)
def test_bad_input_is_rejected(fast, X, error, message):
    with pytest.raises(error, match=message):
        _model(fast, n_clusters=1).fit(X)


@pytest.mark.usefixtures("no_training")
def test_more_clusters_than_samples(fast):
    X = np.random.default_rng(0).uniform(size=(5, 3))
    with pytest.raises(ValueError, match=r"n_samples=5.*n_clusters=6"):
        _model(fast, n_clusters=6).fit(X)


@pytest.mark.usefixtures("no_training")
@pytest.mark.parametrize(
    ("params", "name"),
    [
        (dict(n_clusters=0), "n_clusters"),
        (dict(n_clusters=2.5), "n_clusters"),
        (dict(latent_dim=0), "latent_dim"),
        (dict(likelihood="poisson"), "likelihood"),
        (dict(categorical="exact"), "categorical"),
        (dict(init_params="kmeans"), "init_params"),
        (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
        (dict(hidden_layer_sizes=()), "hidden_layer_sizes"),
        (dict(hidden_layer_sizes=(16, -1)), "hidden_layer_sizes"),
        (dict(hidden_layer_sizes=(16.5,)), "hidden_layer_sizes"),
        (dict(max_iter=0), "max_iter"),
        (dict(batch_size=0), "batch_size"),
        (dict(learning_rate_init=0.0), "learning_rate_init"),
        (dict(temperature_init=-1.0), "temperature_init"),
        (dict(temperature_min=0.0), "temperature_min"),
        (dict(kl_z_weight=-1.0), "kl_z_weight"),
        (dict(tol=-1e-3), "tol"),
        (dict(n_init=0), "n_init"),
        (dict(pretrain_iter=0), "pretrain_iter"),
        (dict(hard_gumbel="yes"), "hard_gumbel"),
        (dict(device=0), "device"),
        (dict(random_state="seed"), "random_state"),
    ],
)
def test_invalid_parameters(digits01, fast, params, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        _model(fast, **params).fit(digits01[0][:20])


@pytest.mark.usefixtures("no_training")
def test_bernoulli_on_data_outside_the_unit_interval(blobs, fast):
    with pytest.raises(ValueError, match="MinMaxScaler"):
        _model(fast, likelihood="bernoulli").fit(blobs[0])


def test_bernoulli_model_rejects_unscaled_data_at_predict_time(fitted, digits01):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fitted.predict(digits01[0] * 16)


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "transform", "score_samples", "score"]
)
def test_different_number_of_features_at_predict_time(fitted, digits01, method):
    with pytest.raises(ValueError, match="64 features"):
        getattr(fitted, method)(digits01[0][:, :10])


@pytest.mark.usefixtures("no_training")
@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_requested_without_cuda(digits01, fast, device):
    with pytest.raises(ValueError, match="CUDA is not available"):
        _model(fast, device=device).fit(digits01[0])


@pytest.mark.usefixtures("no_training")
@pytest.mark.parametrize(
    ("device", "message"),
    [("tpu", "Unknown device 'tpu'"), ("foo", "Unknown device 'foo'"), ("", "''")],
)
def test_unknown_device_strings(digits01, fast, device, message):
    with pytest.raises(ValueError, match=message):
        _model(fast, device=device).fit(digits01[0])


@pytest.mark.usefixtures("no_training")
@pytest.mark.parametrize("device", ["meta", "mps"])
def test_unsupported_device_types(digits01, fast, device):
    with pytest.raises(ValueError, match="device"):
        _model(fast, device=device).fit(digits01[0])


def test_auto_device_without_cuda(digits01, fast):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    model = _model(fast, device="auto").fit(digits01[0])
    assert model.device_ == "cpu"


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "transform", "score_samples", "score"]
)
def test_methods_before_fit(digits01, method):
    with pytest.raises(NotFittedError):
        getattr(GMVAEClustering(), method)(digits01[0])


def test_sample_before_fit():
    with pytest.raises(NotFittedError):
        GMVAEClustering().sample(3)


@pytest.mark.parametrize(
    "n_samples, expected",
    [(50, 128), (9_999, 128), (10_000, 256), (49_999, 256), (50_000, 512)],
)
def test_auto_batch_size_grows_with_the_data(n_samples, expected):
    assert GMVAEClustering()._batch_size(n_samples) == expected
    assert GMVAEClustering(batch_size=64)._batch_size(n_samples) == 64
    # The training configuration caps it at the number of samples.
    config = GMVAEClustering()._training_config(n_samples)
    assert config.batch_size == min(expected, n_samples)


# ------------------------------------------------- scaled data in searches
def test_grid_search_over_a_minmax_pipeline_gives_finite_scores(fast):
    # Test folds scaled by the training fold's MinMaxScaler fall outside
    # [0, 1]; scoring clips them instead of failing (NaN scores).
    X, _ = load_wine(return_X_y=True)
    pipe = make_pipeline(MinMaxScaler(), _model(fast, n_clusters=3))
    search = GridSearchCV(pipe, {"gmvaeclustering__latent_dim": [2, 4]}, cv=3)
    search.fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    assert (
        search.best_params_["gmvaeclustering__latent_dim"]
        == [2, 4][int(np.argmax(scores))]
    )


def test_prediction_clips_values_slightly_outside_the_unit_interval(fitted):
    X = np.random.default_rng(0).uniform(-0.3, 1.6, size=(40, 64))
    clipped = np.clip(X, 0.0, 1.0)
    np.testing.assert_array_equal(
        fitted.predict_proba(X), fitted.predict_proba(clipped)
    )
    np.testing.assert_array_equal(
        fitted.score_samples(X), fitted.score_samples(clipped)
    )
    np.testing.assert_array_equal(fitted.transform(X), fitted.transform(clipped))


def test_fit_stays_strict_about_the_unit_interval(fast):
    X = np.random.default_rng(0).uniform(size=(30, 4))
    X[0, 0] = 1.3
    with pytest.raises(ValueError, match=r"ranges over \[.*, 1\.3\]"):
        _model(fast, likelihood="bernoulli").fit(X)


def test_rounding_above_one_does_not_change_the_likelihood(fast):
    X = np.random.default_rng(0).uniform(size=(30, 4))
    X[0, 0] = 1.0000000000000004  # MinMaxScaler's rounding
    model = _model(fast).fit(X)
    assert model.likelihood_ == "bernoulli"
    np.testing.assert_array_equal(model.labels_, model.predict(np.clip(X, 0, 1)))


def test_the_error_shows_the_digits_that_violate_the_range(fast):
    X = np.random.default_rng(0).uniform(size=(30, 4))
    X[0, 0] = 1.00001
    with pytest.raises(ValueError, match=r"ranges over \[.*, 1\.00001\]"):
        _model(fast, likelihood="bernoulli").fit(X)


# ------------------------------------------------------------ warning lines
@pytest.mark.parametrize("method", ["fit", "fit_predict", "fit_transform"])
def test_warnings_point_at_the_callers_line(digits01, fast, method):
    model = _model(fast, max_iter=1, n_iter_no_change=5)
    with pytest.warns(ConvergenceWarning) as record:
        getattr(model, method)(digits01[0])
    assert {warning.filename for warning in record} == {__file__}


def test_interrupt_warnings_point_at_the_callers_line(digits01, fast, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(losses_module, "alignment_loss", interrupt)
    with pytest.warns(RuntimeWarning, match="nterrupted") as record:
        _model(fast, init_params="gmm").fit(digits01[0])
    assert {warning.filename for warning in record} == {__file__}


# -------------------------------------------- GaussianMixture's attributes
def test_mixture_attributes_in_gaussian_mixture_terms(fitted):
    K, D = fitted.n_clusters, fitted.latent_dim
    assert fitted.weights_.shape == (K,)
    np.testing.assert_allclose(fitted.weights_.sum(), 1.0)
    assert fitted.means_.shape == fitted.covariances_.shape == (K, D)
    assert (fitted.covariances_ > 0).all()
    # The clusters of samples drawn from the prior sit at means_, spread by
    # covariances_: p(z | y) is what these attributes describe.
    loc, logvar = fitted.module_.prior_params()
    np.testing.assert_allclose(fitted.means_, loc.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        fitted.covariances_, logvar.detach().exp().numpy(), rtol=1e-6
    )


def test_clusters_of_unequal_sizes_keep_their_sizes_and_weights():
    # Separate 2-D blobs of 300, 30 and 15 samples, default settings: the
    # start keeps the three blobs (no neighbour edge joins them), p(y)
    # follows their sizes, and training does not even them out.
    X, y = make_blobs(
        [300, 30, 15], centers=[[0, 0], [10, 10], [-10, 10]], random_state=0
    )
    X = StandardScaler().fit_transform(X)
    model = GMVAEClustering(n_clusters=3, random_state=0).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.95
    sizes = np.sort(np.bincount(model.labels_, minlength=3))
    np.testing.assert_allclose(np.sort(model.weights_), (sizes + 1) / 348, atol=0.02)


@pytest.mark.parametrize("seed", [3, 4])
def test_elbo_training_keeps_a_small_separate_cluster(seed):
    # 2-D blobs of 1,000, 20 and 10 samples: the start and the warm-up find
    # all three. With q(y | x) trained from the first ELBO step, that epoch
    # moved the 20 samples into the large cluster for these seeds (ARI 0.49
    # on an AMD EPYC without AVX-512).
    X, y = load_dataset("blobs_imbalanced")
    model = GMVAEClustering(n_clusters=3, random_state=seed).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.95


@pytest.mark.parametrize("clusters_set", [True, False])
def test_elbo_training_holds_the_warm_up_clusters_for_one_epoch(
    digits01, fast, clusters_set
):
    # Only after a warm-up that set the clusters (not with
    # init_params="random" or warm_start) is q(y | x) held.
    model = _model(fast)
    data = model._prepare(digits01[0], first=True)
    # The minimum number of held steps is tested below.
    settings = replace(model._fit_settings(), average_epochs=0, hold_clusters_steps=0)
    assert settings.hold_clusters_epochs == 1
    module = new_module(data, settings, np.random.RandomState(0))
    cluster_encoder = ["qy_head.weight", "qy_head.bias", "qy_trunk.0.weight"]
    watched = [*cluster_encoder, "prior_loc"]
    before = {name: module.state_dict()[name].clone() for name in watched}
    state = fresh_state(module, settings)
    generator = torch.Generator().manual_seed(0)
    warmup = WarmupResult(clusters_set=clusters_set)
    for epoch in range(2):
        train_elbo(module, data, state, settings, generator, warmup, FixedEpochs(1))
        after = module.state_dict()
        assert not torch.equal(after["prior_loc"], before["prior_loc"])
        for name in cluster_encoder:
            assert torch.equal(after[name], before[name]) == (
                clusters_set and epoch == 0
            ), (epoch, name)
        # Then q(y | x) trains: a later call, as with warm_start, holds nothing.
        warmup = WarmupResult(clusters_set=False)


@pytest.mark.parametrize("n_samples", [300, 20_000])
def test_elbo_training_holds_the_clusters_for_at_least_100_steps(n_samples):
    # One epoch, or 100 optimizer steps where an epoch has fewer.
    X = np.zeros((n_samples, 2))
    model = GMVAEClustering(n_clusters=2)
    data = model._prepare(X, first=True)
    settings = model._fit_settings()
    assert settings.hold_clusters_steps == 100
    steps_per_epoch = len(batch_bounds(n_samples, data.config.batch_size))
    state = SimpleNamespace(step=7)
    held_until = _held_until(data, state, settings, WarmupResult(clusters_set=True))
    assert held_until == 7 + max(steps_per_epoch, 100)
    assert _held_until(data, state, settings, WarmupResult()) == 7


@pytest.mark.parametrize("stop_inside_hold", [True, False])
def test_a_stop_inside_the_hold_holds_the_averaged_epochs_too(
    digits01, fast, stop_inside_hold
):
    # A stage that stops on stable clusters before its hold ends keeps
    # q(y | x) held through the averaged epochs, which no stopping rule
    # watches; one that stops when the hold ends trains q(y | x) in them.
    model = _model(fast)
    data = model._prepare(digits01[0], first=True)
    steps = len(batch_bounds(data.X_t.shape[0], data.config.batch_size))
    settings = replace(
        model._fit_settings(),
        average_epochs=2,
        hold_clusters_steps=steps + 1 if stop_inside_hold else 0,
    )
    module = new_module(data, settings, np.random.RandomState(0))
    head = module.state_dict()["qy_head.weight"].clone()
    state = fresh_state(module, settings)
    generator = torch.Generator().manual_seed(0)
    warmup = WarmupResult(clusters_set=True)
    train_elbo(module, data, state, settings, generator, warmup, FixedEpochs(1))
    assert state.step == 3 * steps
    held = torch.equal(module.state_dict()["qy_head.weight"], head)
    assert held == stop_inside_hold


def test_concentric_rings_keep_the_warm_up_clusters():
    # On 300 points an epoch is 3 steps. Released after one epoch, q(y | x)
    # put both rings in one cluster; held for 100 steps, the fit keeps the
    # warm-up's rings.
    X, y = make_circles(300, noise=0.05, factor=0.5, random_state=0)
    model = GMVAEClustering(n_clusters=2, random_state=0).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.99


def test_continued_training_uses_the_optimizer_settings_of_fit(digits01, fast):
    # A pickled model keeps no optimizer state unless it may continue; the
    # new optimizer of warm_start then has fit's settings.
    model = _model(fast, learning_rate_init=3e-3).fit(digits01[0])
    model = pickle.loads(pickle.dumps(model))
    assert model._optimizer_state is None
    _, state = model._resumed(torch.device("cpu"), model._fit_settings())
    assert state.optimizer.param_groups[0]["lr"] == 3e-3
    assert state.step == model.n_steps_ and state.history == model.history_


@pytest.mark.parametrize("name", ["weights_", "means_", "covariances_"])
def test_mixture_attributes_before_fit(name):
    assert not hasattr(GMVAEClustering(), name)
    with pytest.raises(NotFittedError):
        getattr(GMVAEClustering(), name)


# ------------------------------------------------------------------ verbose
def test_verbose_names_each_stage_and_estimates_the_time_left(digits01, fast, capsys):
    _model(fast, verbose=1, pretrain_iter=2, max_iter=2).fit(digits01[0])
    out = capsys.readouterr().out
    for line in (
        "[autoencoder] epoch 1/2:",
        "[neighbour search] ...",
        "[initial clusters] done in",
        "[alignment] epoch 1/",
        "[neighbors] epoch 2/2:",
        "[ELBO] epoch 1/2:",
    ):
        assert line in out, line
    assert re.search(r"\[autoencoder\] epoch 1/2: .* s, about [\d.]+ s left", out)
    assert re.search(r"\[ELBO\] epoch 1/2: .*, at most [\d.]+ s left", out)


def test_quiet_by_default(digits01, fast, capsys):
    _model(fast).fit(digits01[0])
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("has_bf16", "batch_size", "expected"),
    [(True, 256, "bfloat16"), (True, 128, "float32"), (False, 256, "float32")],
)
def test_auto_precision_follows_the_cpu_and_the_batch(
    has_bf16, batch_size, expected, digits01, fast, monkeypatch
):
    import skgmvae._device as device_module

    monkeypatch.setattr(device_module, "cpu_has_fast_bfloat16", lambda: has_bf16)
    X = digits01[0]
    params = {**fast, "batch_size": batch_size, "max_iter": 1}
    model = GMVAEClustering(n_clusters=3, random_state=0, precision="auto", **params)
    assert model.fit(X).precision_ == expected
    fixed = GMVAEClustering(
        n_clusters=3, random_state=0, precision="float32", **params
    ).fit(X)
    assert fixed.precision_ == "float32"


def test_cpu_bfloat16_flags_are_read_from_cpuinfo(monkeypatch, tmp_path):
    import builtins

    import skgmvae._device as device_module

    real_open = builtins.open
    for flags, expected in [("fpu avx512f avx512_bf16", True), ("fpu sse2", False)]:
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(
            builtins,
            "open",
            lambda path, *a, _f=cpuinfo, **k: real_open(
                _f if path == "/proc/cpuinfo" else path, *a, **k
            ),
        )
        assert device_module.cpu_has_fast_bfloat16() is expected

"""Numerical faults and interruptions that tests/test_estimator.py leaves out."""

from __future__ import annotations

import copy
import math
import pickle
import warnings

import numpy as np
import pytest
import torch

import skgmvae._base as base_module
import skgmvae._graph as graph_module
import skgmvae._initialization as initialization_module
import skgmvae._losses as losses_module
import skgmvae._training as training_module
from skgmvae import GMVAEClustering
from skgmvae._module import GMVAE
from skgmvae._validation import MAX_ABS_VALUE, NonFiniteError

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:Only .* clusters:UserWarning",
    "ignore:Training interrupted:RuntimeWarning",
)


def _model(fast, **params):
    return GMVAEClustering(**{"n_clusters": 3, "random_state": 0, **fast, **params})


@pytest.fixture(scope="module")
def fitted(digits01, fast):
    return _model(fast).fit(digits01[0])


def test_non_finite_error_is_a_value_error_and_a_floating_point_error():
    assert issubclass(NonFiniteError, ValueError)
    assert issubclass(NonFiniteError, FloatingPointError)


def test_a_weight_gone_nan_in_an_epochs_last_step_is_caught(
    digits01, fast, monkeypatch
):
    """The epoch's loss is finite but its last update broke a weight."""
    X = digits01[0][:120]
    original = training_module._run_epoch
    calls = {"n": 0}

    def poisoning_epoch(module, *args, **kwargs):
        sums = original(module, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            with torch.no_grad():
                module.qy_head.weight[0, 0] = torch.nan
        return sums

    monkeypatch.setattr(training_module, "_run_epoch", poisoning_epoch)
    model = _model(fast, init_params="random", max_iter=4, n_iter_no_change=50)
    with pytest.warns(RuntimeWarning, match="Non-finite training loss"):
        model.fit(X)
    # Recovered from the state after epoch 1, not from the poisoned one.
    assert model.n_iter_ == 4 + model.average_epochs
    assert all(torch.isfinite(p).all() for p in model.module_.parameters())
    assert np.isfinite(model.predict_proba(X)).all()
    lr = model._optimizer_state["param_groups"][0]["lr"]
    assert lr == pytest.approx(0.1 * model.learning_rate_init)


def _adam_step(module, state):
    """One optimizer step on a made-up loss; changes weights and moments."""
    state.optimizer.zero_grad()
    sum(p.square().sum() for p in module.parameters()).backward()
    state.optimizer.step()
    state.step += 1


def _training_state_copy(module, state):
    moments = state.optimizer.state_dict()["state"]
    return (
        [p.detach().clone() for p in module.parameters()],
        {i: {k: v.clone() for k, v in m.items()} for i, m in moments.items()},
        state.step,
    )


def test_the_checkpoint_restores_the_last_save_however_often_it_is_restored():
    module = GMVAE(6, 3, 2, (8,), "gaussian")
    module.reset_parameters(torch.Generator().manual_seed(0))
    state = training_module.TrainingState(training_module.make_optimizer(module, 0.1))
    _adam_step(module, state)
    checkpoint = training_module._Checkpoint(module, state)
    _adam_step(module, state)
    checkpoint.save()  # into the tensors of the first save
    saved = _training_state_copy(module, state)
    for _ in range(2):  # a retry that fails again restores the same state
        _adam_step(module, state)
        checkpoint.restore()
        # Nested weights, moments and step count, compared exactly.
        torch.testing.assert_close(
            _training_state_copy(module, state), saved, rtol=0, atol=0
        )


def test_weights_too_large_to_sum_are_still_finite():
    module = GMVAE(6, 3, 2, (8,), "gaussian")
    with torch.no_grad():
        for param in module.parameters():
            param.fill_(3e38)  # finite; their sum overflows
    assert training_module._finite(module)
    with torch.no_grad():
        module.qy_head.bias[0] = torch.inf
    assert not training_module._finite(module)


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "transform", "score_samples", "score"]
)
def test_a_model_with_nan_weights_gives_no_labels(fitted, digits01, method):
    broken = GMVAEClustering(**fitted.get_params())
    broken.__dict__.update(fitted.__getstate__())
    broken.module_ = GMVAE(
        fitted.n_features_in_,
        fitted.n_clusters,
        fitted.latent_dim,
        fitted.hidden_layer_sizes,
        fitted.likelihood_,
    )
    broken.module_.load_state_dict(fitted.module_.state_dict())
    with torch.no_grad():
        for parameter in broken.module_.parameters():
            parameter.fill_(torch.nan)
    with pytest.raises(ValueError, match="NaN or infinite"):
        getattr(broken, method)(digits01[0][:20])


def test_a_model_with_nan_weights_gives_no_samples(fitted):
    broken = GMVAEClustering(**fitted.get_params())
    broken.__dict__.update(fitted.__getstate__())
    with torch.no_grad():
        broken.module_.decoder[-1].bias.fill_(torch.nan)
    with pytest.raises(ValueError, match="NaN or infinite"):
        broken.sample(5)
    # The original (a different module after __getstate__'s copy) still works.
    assert np.isfinite(fitted.sample(5)[0]).all()


@pytest.mark.parametrize("value", [MAX_ABS_VALUE * 10, 1e300, -1e39])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_values_beyond_the_float32_safe_range_are_rejected(fast, value, method):
    X = np.random.default_rng(0).normal(size=(20, 3))
    X[3, 1] = value
    model = _model(fast, n_clusters=2)
    with pytest.raises(ValueError, match="magnitude.*Standardize"):
        getattr(model, method)(X)
    assert not hasattr(model, "module_")


@pytest.mark.parametrize("method", ["predict", "transform", "score_samples"])
def test_huge_values_at_predict_time_are_rejected(blobs, fast, method):
    model = _model(fast).fit(blobs[0])
    X = blobs[0][:5].copy()
    X[0, 0] = 1e20
    with pytest.raises(ValueError, match="magnitude"):
        getattr(model, method)(X)


def test_outliers_at_the_accepted_limit_score_finite_and_lowest(blobs, fast):
    """The capped variance of q(z | x, y) keeps the ELBO of such a point in
    float32's range: a finite score far below the training data's."""
    model = _model(fast).fit(blobs[0])
    X = np.full((2, blobs[0].shape[1]), MAX_ABS_VALUE)
    X[1] *= -1
    assert np.isfinite(model.predict_proba(X)).all()
    scores = model.score_samples(X)
    assert np.isfinite(scores).all()
    assert scores.max() < model.score_samples(blobs[0]).min() - 1e6


def test_unscaled_data_that_diverges_raises_a_value_error(blobs, fast):
    X = blobs[0] * 1e8
    model = _model(fast, max_iter=5)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Non-finite training loss")
            model.fit(X)
    except ValueError as exc:
        assert "NaN or infinite" in str(exc)
        assert "extreme values" in str(exc)
        assert not hasattr(model, "labels_")
    else:
        assert np.isfinite(model.predict_proba(X)).all()


def test_a_continued_fit_that_raises_leaves_the_fitted_model_as_it_was(
    digits01, fast, monkeypatch
):
    X = digits01[0]
    model = _model(fast, warm_start=True).fit(X)
    proba = model.predict_proba(X)
    weights = copy.deepcopy(model.module_.state_dict())
    moments = copy.deepcopy(model._optimizer_state)
    # Training succeeds; only the final score is non-finite, so the call
    # raises after a whole ELBO stage of steps.
    monkeypatch.setattr(base_module, "elbo_score", lambda module, X_t: math.nan)
    with pytest.raises(NonFiniteError, match="non-finite ELBO"):
        model.fit(X)
    monkeypatch.undo()
    torch.testing.assert_close(model.module_.state_dict(), weights, rtol=0, atol=0)
    torch.testing.assert_close(model._optimizer_state, moments, rtol=0, atol=0)
    np.testing.assert_array_equal(model.predict_proba(X), proba)


# ---------------------------------------------------------- interruptions
@pytest.mark.parametrize(
    ("init_params", "clusterer"),
    [
        ("graph", (graph_module, "graph_clusters")),
        ("gmm", (initialization_module, "mixture_responsibilities")),
    ],
)
def test_interrupt_while_finding_the_initial_clusters(
    digits01, fast, monkeypatch, init_params, clusterer
):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(*clusterer, interrupt)
    model = _model(fast, init_params=init_params)
    with pytest.warns(RuntimeWarning, match="initial clusters stage"):
        model.fit(digits01[0])
    assert model.n_iter_ == 0 and model.history_ == []
    proba = model.predict_proba(digits01[0])
    assert np.isfinite(proba).all()
    np.testing.assert_array_equal(model.labels_, proba.argmax(axis=1))


def test_interrupt_in_a_later_initialisation_keeps_the_best_so_far(
    digits01, fast, monkeypatch
):
    X = digits01[0]
    modules: list[GMVAE] = []
    original = losses_module.autoencoder_loss

    def interrupt_second(module, x):
        if module not in modules:
            modules.append(module)
        if len(modules) > 1:
            raise KeyboardInterrupt
        return original(module, x)

    monkeypatch.setattr(losses_module, "autoencoder_loss", interrupt_second)
    model = _model(fast, n_init=3)
    with pytest.warns(RuntimeWarning, match="autoencoder stage"):
        model.fit(X)
    assert len(modules) == 2  # the third initialisation never started
    # The better of the two by ELBO, as without the interruption.
    scores = []
    for module in modules:
        copy = pickle.loads(pickle.dumps(model))
        copy.module_ = module
        scores.append(copy.score(X))
    assert model.module_ is modules[int(np.argmax(scores))]
    assert model.lower_bound_ == pytest.approx(max(scores), rel=1e-5)
    assert np.isfinite(model.predict_proba(X)).all()


def test_interrupt_during_the_warm_up_of_partial_fit(digits01, fast, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(losses_module, "alignment_loss", interrupt)
    model = _model(fast)
    with pytest.warns(RuntimeWarning, match="alignment stage"):
        model.partial_fit(digits01[0][:100])
    monkeypatch.undo()
    assert model.n_iter_ == 0
    assert np.isfinite(model.lower_bound_)
    model.partial_fit(digits01[0][100:200])  # and training goes on from there
    assert model.n_iter_ == 1

"""Incremental training on chunks with ``partial_fit``."""

from __future__ import annotations

import copy
import math
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import torch

import skgmvae._losses as losses_module
from skgmvae import GMVAEClustering
from skgmvae._training import batch_bounds

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:Only .* clusters:UserWarning",
)


def _model(fast, **params):
    return GMVAEClustering(**{"n_clusters": 3, "random_state": 0, **fast, **params})


def _chunks(X, n):
    return np.array_split(X, n)


@pytest.fixture
def train_calls(training_calls):
    """Number of epochs run by each call to the training loop."""
    return training_calls.epochs


def test_first_call_builds_the_model_and_warms_up_on_the_chunk(
    digits01, fast, train_calls
):
    X = digits01[0]
    first, second = X[:100], X[100:180]
    model = _model(fast, pretrain_iter=2).partial_fit(first)
    # Warm-up: pretrain_iter autoencoder epochs, an alignment stage of at
    # least 300 steps (2 batches of 64 per epoch: 150 epochs), then one
    # ELBO epoch.
    assert train_calls == [2, 150, 1]
    assert model.n_features_in_ == X.shape[1]
    assert model.n_iter_ == len(model.history_) == len(model.loss_curve_) == 1
    assert model.labels_.shape == (100,)
    assert model.likelihood_ == "bernoulli"
    assert math.isfinite(model.lower_bound_)
    assert not model.converged_
    steps = model.n_steps_
    assert steps == math.ceil(100 / fast["batch_size"])

    model.partial_fit(second)
    assert train_calls == [2, 150, 1, 1]  # later calls: one epoch, no warm-up
    assert model.n_iter_ == len(model.history_) == 2
    assert model.labels_.shape == (80,)
    np.testing.assert_array_equal(model.labels_, model.predict(second))
    assert model.n_steps_ == steps + math.ceil(80 / fast["batch_size"])


def test_random_init_has_no_warm_up(digits01, fast, train_calls):
    _model(fast, init_params="random").partial_fit(digits01[0][:100])
    assert train_calls == [1]


def test_temperature_and_optimizer_continue_across_calls(digits01, fast):
    params = dict(temperature_halflife=2.0, temperature_min=1e-6, batch_size=20)
    model = _model(fast, **params)
    for chunk in _chunks(digits01[0], 5):
        model.partial_fit(chunk)
    temperatures = [record["temperature"] for record in model.history_]
    assert all(b < a for a, b in zip(temperatures, temperatures[1:], strict=False))
    # Adam's step count is that of all mini-batches seen so far.
    adam_steps = {int(s["step"]) for s in model._optimizer_state["state"].values()}
    assert adam_steps == {model.n_steps_} == {5 * 3}


def test_chunks_train_the_model(digits01, fast):
    X = digits01[0]
    model = _model(fast, n_clusters=5, batch_size=32)
    model.partial_fit(X[:150])
    before = model.score(X)
    for _ in range(4):
        for chunk in _chunks(X, 4):
            model.partial_fit(chunk)
    assert model.n_iter_ == 17
    assert model.score(X) > before


def test_a_pickled_model_continues_like_the_original(digits01, fast):
    X = digits01[0]
    model = _model(fast).partial_fit(X[:100])
    copy = pickle.loads(pickle.dumps(model))
    model.partial_fit(X[100:200])
    copy.partial_fit(X[100:200])
    np.testing.assert_array_equal(model.predict_proba(X), copy.predict_proba(X))


def test_a_later_chunk_may_hold_a_single_sample(digits01, fast):
    X = digits01[0]
    model = _model(fast).partial_fit(X[:100])
    model.partial_fit(X[100:101])
    assert model.n_iter_ == 2
    assert model.labels_.shape == (1,)


def test_fit_after_partial_fit_starts_over_unless_warm_start(digits01, fast):
    X = digits01[0]
    model = _model(fast).partial_fit(X[:100])
    module = model.module_
    model.fit(X)
    assert model.module_ is not module
    assert model.n_iter_ == len(model.history_)
    assert model.n_iter_ == fast["max_iter"] + model.average_epochs
    assert model.labels_.shape == (X.shape[0],)

    model = _model(fast, warm_start=True).partial_fit(X[:100])
    step = model.n_steps_
    model.fit(X)
    assert len(model.history_) == 1 + fast["max_iter"] + model.average_epochs
    assert model.n_steps_ > step


def test_nan_in_a_later_chunk_keeps_the_previous_model(digits01, fast, monkeypatch):
    X = digits01[0]
    model = _model(fast).partial_fit(X[:100])
    proba = model.predict_proba(X)
    n_iter, step = model.n_iter_, model.n_steps_
    moments = copy.deepcopy(model._optimizer_state)
    original = losses_module.negative_elbo

    def nan_loss(module, x, **kwargs):
        out = original(module, x, **kwargs)
        out.loss = out.loss * torch.nan
        return out

    monkeypatch.setattr(losses_module, "negative_elbo", nan_loss)
    with (
        pytest.warns(RuntimeWarning, match="Non-finite training loss"),
        pytest.raises(ValueError, match="NaN or infinite"),
    ):
        model.partial_fit(X[100:200])
    monkeypatch.undo()
    np.testing.assert_array_equal(model.predict_proba(X), proba)
    assert (model.n_iter_, model.n_steps_) == (n_iter, step)
    # The failed epochs' steps left no trace in Adam's moments either, so
    # the next chunk trains as usual.
    torch.testing.assert_close(model._optimizer_state, moments, rtol=0, atol=0)
    model.partial_fit(X[100:200])
    assert model.n_iter_ == n_iter + 1
    assert np.isfinite(model.lower_bound_)


def test_nan_in_the_first_chunk_leaves_the_model_unfitted(digits01, fast, monkeypatch):
    def nan_autoencoder(module, x):
        out = original(module, x)
        out.loss = out.loss * torch.nan
        return out

    original = losses_module.autoencoder_loss
    monkeypatch.setattr(losses_module, "autoencoder_loss", nan_autoencoder)
    model = _model(fast)
    with (
        pytest.warns(RuntimeWarning, match="Non-finite training loss"),
        pytest.raises(FloatingPointError, match="NaN or infinite"),
    ):
        model.partial_fit(digits01[0][:100])
    assert not hasattr(model, "module_")
    assert not hasattr(model, "labels_")


def test_interrupted_chunk_keeps_the_previous_model(digits01, fast, monkeypatch):
    X = digits01[0]
    model = _model(fast).partial_fit(X[:100])
    proba = model.predict_proba(X)

    def interrupt(module, x, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(losses_module, "negative_elbo", interrupt)
    with pytest.warns(RuntimeWarning, match="nterrupted"):
        model.partial_fit(X[100:200])
    monkeypatch.undo()
    assert model.n_iter_ == 1
    np.testing.assert_array_equal(model.predict_proba(X), proba)
    assert model.labels_.shape == (100,)


# -------------------------------------------------------------- out of core
def _write_images(path, n_samples, n_features, seed=0):
    """uint8 'images' on disk, written in blocks; returns a read-only memmap."""
    rng = np.random.default_rng(seed)
    centers = rng.integers(0, 256, size=(3, n_features))
    with open(path, "wb") as f:
        for start in range(0, n_samples, 5000):
            rows = min(5000, n_samples - start)
            labels = rng.integers(0, 3, size=rows)
            noise = rng.integers(-40, 41, size=(rows, n_features))
            block = np.clip(centers[labels] + noise, 0, 255).astype(np.uint8)
            f.write(block.tobytes())
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(n_samples, n_features))


def test_streaming_a_memmap_keeps_memory_bounded(tmp_path, fast):
    n_samples, n_features, chunk = 20_000, 784, 1000
    images = _write_images(tmp_path / "images.u8", n_samples, n_features)
    as_float32 = n_samples * n_features * 4  # what converting it all would take
    model = _model(fast, batch_size=250, latent_dim=4)
    for start in range(0, n_samples, chunk):
        if start == 2 * chunk:
            # Traced from the third chunk on: the first calls import modules.
            tracemalloc.start()
        # The uint8 -> float32 conversion happens one chunk at a time.
        block = images[start : start + chunk].astype(np.float32) / 255.0
        model.partial_fit(block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert model.n_iter_ == n_samples // chunk
    steps_per_chunk = len(batch_bounds(chunk, 250))  # 5: whole multiples of 32 rows
    assert model.n_steps_ == (n_samples // chunk) * steps_per_chunk
    # A handful of chunk-sized float32 buffers (3 MB each), not the data
    # (63 MB as float32).
    assert peak < 5 * chunk * n_features * 4
    assert peak < as_float32 / 4
    labels = model.predict(images[:2000].astype(np.float32) / 255.0)
    assert np.isfinite(model.lower_bound_)
    assert labels.shape == (2000,)


def test_memmap_chunks_need_no_copy_when_already_float32(tmp_path, fast):
    path = tmp_path / "floats.f32"
    X = np.random.default_rng(0).uniform(size=(400, 16)).astype(np.float32)
    X.tofile(path)
    floats = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    model = _model(fast)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's warning on read-only arrays
        for start in range(0, 400, 100):
            model.partial_fit(floats[start : start + 100])
    np.testing.assert_array_equal(model.predict(X), model.predict(floats))

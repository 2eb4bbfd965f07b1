"""The estimators on a CUDA device (skipped on machines without one)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from skgmvae import GMVAEClassifier, GMVAEClustering

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.filterwarnings("error::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:Only \\d+ of n_clusters:UserWarning"),
]


def _model(fast, **params) -> GMVAEClustering:
    params = {**fast, "device": "cuda", "n_clusters": 4, "random_state": 0, **params}
    return GMVAEClustering(**params)


@pytest.fixture(scope="module")
def cuda_fitted(digits01, fast):
    return _model(fast).fit(digits01[0])


def test_fit_on_cuda(cuda_fitted, digits01, fast):
    X = digits01[0]
    assert cuda_fitted.device_ in ("cuda", "cuda:0")
    assert next(cuda_fitted.module_.parameters()).device.type == "cuda"
    proba = cuda_fitted.predict_proba(X)
    assert isinstance(proba, np.ndarray)
    assert proba.shape == (X.shape[0], 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert cuda_fitted.transform(X).shape == (X.shape[0], fast["latent_dim"])
    assert np.isfinite(cuda_fitted.score_samples(X)).all()
    samples, y = cuda_fitted.sample(7)
    assert isinstance(samples, np.ndarray) and samples.shape == (7, X.shape[1])
    assert y.shape == (7,) and y.max() < 4


def test_cuda_is_deterministic_with_a_seed(cuda_fitted, digits01, fast):
    X = digits01[0]
    again = _model(fast).fit(X)
    np.testing.assert_array_equal(again.labels_, cuda_fitted.labels_)
    np.testing.assert_allclose(
        again.predict_proba(X), cuda_fitted.predict_proba(X), atol=1e-6
    )


@pytest.mark.parametrize("device", ["auto", "cuda:0"])
def test_cuda_device_strings(digits01, fast, device):
    model = _model(fast, device=device, max_iter=1).fit(digits01[0])
    assert model.device_ in ("cuda", "cuda:0")


def test_missing_cuda_index(digits01, fast):
    index = torch.cuda.device_count()
    with pytest.raises(ValueError, match=f"cuda:{index}"):
        _model(fast, device=f"cuda:{index}").fit(digits01[0])


def test_fit_leaves_the_global_cuda_rng_alone(digits01, fast):
    cuda_state = torch.cuda.get_rng_state()
    cpu_state = torch.get_rng_state()
    _model(fast, max_iter=1).fit(digits01[0])
    assert torch.equal(torch.cuda.get_rng_state(), cuda_state)
    assert torch.equal(torch.get_rng_state(), cpu_state)


def test_pickle_of_a_cuda_model_loads_on_the_cpu(cuda_fitted, digits01, monkeypatch):
    X = digits01[0]
    payload = pickle.dumps(cuda_fitted)
    # The fitted model itself stays on the GPU.
    assert next(cuda_fitted.module_.parameters()).device.type == "cuda"
    # A machine without CUDA can load it.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = pickle.loads(payload)
    assert next(loaded.module_.parameters()).device.type == "cpu"
    assert all(b.device.type == "cpu" for b in loaded.module_.buffers())
    proba = loaded.predict_proba(X)
    np.testing.assert_allclose(proba, cuda_fitted.predict_proba(X), atol=1e-4)
    assert (loaded.predict(X) == cuda_fitted.predict(X)).mean() > 0.99


def test_warm_start_on_cuda(digits01, fast):
    X = digits01[0]
    model = _model(fast, max_iter=2, tol=0.0, n_iter_no_change=50).fit(X)
    model.set_params(warm_start=True).fit(X)
    assert len(model.history_) == 2 * (2 + model.average_epochs)
    assert next(model.module_.parameters()).device.type == "cuda"


def test_cpu_pickle_continues_on_cuda(digits01, fast):
    X = digits01[0]
    cpu = _model(fast, device="cpu", max_iter=1).fit(X)
    model = pickle.loads(pickle.dumps(cpu))
    model.set_params(device="cuda", warm_start=True).fit(X)
    assert next(model.module_.parameters()).device.type == "cuda"
    assert len(model.history_) == 2 * (1 + model.average_epochs)


def test_cuda_epochs_do_not_synchronize(digits01, fast, monkeypatch):
    """CUDA's detector raises on any synchronising call inside an epoch."""
    import skgmvae._training as training

    run_epoch = training._run_epoch

    def checked(*args, **kwargs):
        torch.cuda.set_sync_debug_mode("error")
        try:
            return run_epoch(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr(training, "_run_epoch", checked)
    model = _model(fast, max_iter=2, average_epochs=1).fit(digits01[0])
    assert len(model.history_) == 3


def test_classifier_on_cuda_with_few_labels(digits01, fast):
    X, y = digits01
    partial = np.where(np.arange(y.size) % 10 == 0, y, -1)
    model = GMVAEClassifier(**{**fast, "device": "cuda", "random_state": 0})
    model.fit(X, partial)
    assert next(model.module_.parameters()).device.type == "cuda"
    assert set(model.predict(X)) <= set(model.classes_)
    samples, classes = model.sample(4, y=model.classes_[0])
    assert samples.shape == (4, X.shape[1])
    assert (classes == model.classes_[0]).all()
    loaded = pickle.loads(pickle.dumps(model))
    assert next(loaded.module_.parameters()).device.type == "cpu"

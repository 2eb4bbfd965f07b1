"""Shared data and settings for the tests of skgmvae."""

from __future__ import annotations

import importlib.util
import sys
from types import MappingProxyType

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, make_blobs

import skgmvae._training as training_module

# Small networks and few epochs: the tests check behaviour, not quality.
FAST = {
    "hidden_layer_sizes": (32,),
    "latent_dim": 4,
    "max_iter": 3,
    "pretrain_iter": 1,
    "batch_size": 64,
    "device": "cpu",
}


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread():
    """One intra-op thread: the networks under test are tiny, so threads only
    add overhead, and the tests share the machine with other work."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def digits01():
    """The first 300 digits, pixel intensities scaled to [0, 1]."""
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


@pytest.fixture(scope="session")
def blobs():
    """Three well separated Gaussian blobs in 5 dimensions, real valued."""
    X, y = make_blobs(
        n_samples=150, centers=3, n_features=5, cluster_std=0.5, random_state=0
    )
    return X, y


@pytest.fixture(scope="session")
def fast():
    """Keyword arguments of a small, quick ``GMVAEClustering`` (read-only)."""
    return MappingProxyType(FAST)


@pytest.fixture(scope="module")
def import_script():
    """Import a script by path as a module; removed from sys.modules after."""
    names = []

    def load(path, name):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        names.append(name)
        return module

    yield load
    for name in names:
        sys.modules.pop(name, None)


@pytest.fixture
def two_threads():
    """torch set to two intra-op threads for the test, restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


class TrainingCalls:
    """Each call of the training loop, in order: the epochs it ran and
    torch's thread count at its first epoch."""

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.threads: list[int] = []
        self._objective = None

    def record(self, objective) -> None:
        # Each call of the training loop trains its own objective object.
        if objective is self._objective:
            self.epochs[-1] += 1
            return
        self._objective = objective
        self.epochs.append(1)
        self.threads.append(torch.get_num_threads())


@pytest.fixture
def training_calls(monkeypatch):
    """A :class:`TrainingCalls` filled in by every epoch of the test."""
    calls = TrainingCalls()
    original = training_module._run_epoch

    def spy(module, data, objective, *args, **kwargs):
        calls.record(objective)
        return original(module, data, objective, *args, **kwargs)

    monkeypatch.setattr(training_module, "_run_epoch", spy)
    return calls


@pytest.fixture
def rng():
    return np.random.default_rng(0)

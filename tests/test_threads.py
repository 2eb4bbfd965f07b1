"""torch's thread count inside fit and predict, and predictions from threads."""

from __future__ import annotations

import os
import sys
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

import skgmvae._threads as threads_module
from skgmvae import GMVAEClustering
from skgmvae._threads import dask_task_threads, thread_limit, torch_threads

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:Only .* clusters:UserWarning",
)


@pytest.fixture
def seen_by_train(training_calls):
    """torch.get_num_threads() at each call of the training loop."""
    return training_calls.threads


def _fake_worker(monkeypatch, nthreads: int) -> None:
    """Make this thread look like a task of a Dask worker with ``nthreads``."""
    fake = types.ModuleType("distributed")
    worker = types.SimpleNamespace(state=types.SimpleNamespace(nthreads=nthreads))
    fake.get_worker = lambda: worker
    monkeypatch.setitem(sys.modules, "distributed", fake)


def _no_worker(monkeypatch) -> None:
    fake = types.ModuleType("distributed")

    def get_worker():
        raise ValueError("No worker found")

    fake.get_worker = get_worker
    monkeypatch.setitem(sys.modules, "distributed", fake)


@pytest.mark.usefixtures("two_threads")
def test_torch_threads_restores_the_previous_count(monkeypatch):
    _fake_worker(monkeypatch, nthreads=4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with torch_threads() as n:
        assert n == torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), torch_threads():
        raise RuntimeError
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("two_threads")
def test_without_a_limit_nothing_changes(monkeypatch):
    _no_worker(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # outside Dask, torch's own count
    assert dask_task_threads() is None
    assert thread_limit() == 2
    with torch_threads() as n:
        assert n == torch.get_num_threads() == 2


def test_no_dask_lookup_unless_distributed_is_imported(monkeypatch):
    monkeypatch.delitem(sys.modules, "distributed", raising=False)
    assert dask_task_threads() is None
    assert "distributed" not in sys.modules


@pytest.mark.parametrize(
    ("nthreads", "omp", "expected"),
    [(1, None, 1), (4, None, 1), (4, "2", 2), (1, "2", 1), (4, "junk", 1)],
)
def test_dask_task_allotment(monkeypatch, nthreads, omp, expected):
    _fake_worker(monkeypatch, nthreads)
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert dask_task_threads() == expected


@pytest.mark.usefixtures("two_threads")
def test_fit_in_a_dask_task_uses_one_thread(digits01, fast, seen_by_train, monkeypatch):
    _fake_worker(monkeypatch, nthreads=2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    model = GMVAEClustering(n_clusters=3, random_state=0, **fast)
    model.fit(digits01[0][:100])
    # The three warm-up stages (autoencoder, alignment, neighbours) and the
    # ELBO training, all with one thread.
    assert seen_by_train == [1, 1, 1, 1]
    assert torch.get_num_threads() == 2
    seen_by_train.clear()
    model.partial_fit(digits01[0][:50])
    assert seen_by_train == [1]


@pytest.mark.usefixtures("two_threads")
def test_predict_in_a_dask_task_uses_one_thread(fitted_small, digits01, monkeypatch):
    seen: list[int] = []
    original = fitted_small.module_.qy_logits

    def spy(batch):
        seen.append(torch.get_num_threads())
        return original(batch)

    monkeypatch.setattr(fitted_small.module_, "qy_logits", spy)
    _fake_worker(monkeypatch, nthreads=2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    fitted_small.predict(digits01[0][:10])
    assert seen == [1]
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("two_threads")
def test_fit_follows_threadpoolctl_limits(digits01, fast, seen_by_train):
    # threadpoolctl limits the OpenMP runtime that torch itself uses.
    with threadpool_limits(limits=1):
        GMVAEClustering(n_clusters=3, random_state=0, **fast).fit(digits01[0][:100])
    assert seen_by_train and set(seen_by_train) == {1}
    assert torch.get_num_threads() == 2


def test_decorated_methods_keep_their_names():
    for name in ("fit", "partial_fit", "predict_proba", "transform", "sample"):
        assert getattr(GMVAEClustering, name).__name__ == name
    assert threads_module.limit_torch_threads.__doc__


# ------------------------------------------------------------- concurrency
@pytest.fixture(scope="module")
def fitted_small(digits01, fast):
    return GMVAEClustering(n_clusters=4, random_state=0, **fast).fit(digits01[0])


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "transform", "score_samples"]
)
def test_concurrent_predictions_equal_serial_ones(fitted_small, digits01, method):
    rng = np.random.default_rng(0)
    X = digits01[0]
    parts = [X[rng.choice(X.shape[0], size=120, replace=False)] for _ in range(16)]
    serial = [getattr(fitted_small, method)(part) for part in parts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(getattr(fitted_small, method), parts))
    for a, b in zip(serial, concurrent, strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ busy machines
def test_idle_cpus_counts_this_process_cpus():
    idle = threads_module.idle_cpus()
    if idle is None:
        pytest.skip("no /proc/stat here")
    assert 0.0 <= idle <= len(os.sched_getaffinity(0))


@pytest.mark.usefixtures("two_threads")
@pytest.mark.parametrize(("idle", "expected"), [(0.2, 1), (1.4, 1), (1.6, 2), (8, 2)])
def test_fit_uses_no_more_threads_than_idle_cpus(
    digits01, fast, seen_by_train, monkeypatch, idle, expected
):
    _no_worker(monkeypatch)
    monkeypatch.setattr(threads_module, "idle_cpus", lambda: idle)
    model = GMVAEClustering(n_clusters=3, random_state=0, **fast)
    model.fit(digits01[0][:100])
    assert set(seen_by_train) == {expected}
    seen_by_train.clear()
    model.partial_fit(digits01[0][:50])
    assert seen_by_train == [expected]
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("two_threads")
def test_prediction_does_not_sample_the_cpus(fitted_small, digits01, monkeypatch):
    def fail():
        raise AssertionError("sampled the CPUs' idle time for a prediction")

    monkeypatch.setattr(threads_module, "idle_cpus", fail)
    fitted_small.predict(digits01[0][:10])

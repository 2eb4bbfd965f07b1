"""Model selection on a real Dask cluster through joblib's Dask backend.

Starts a ``LocalCluster`` of two worker processes with one thread each, on
the loopback interface, once for the module.
"""

from __future__ import annotations

import sys
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

distributed = pytest.importorskip("dask.distributed")
cloudpickle = pytest.importorskip("cloudpickle")

import skgmvae._threads as threads_module  # noqa: E402
from skgmvae import GMVAEClustering  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:Only .* clusters:UserWarning",
)


@pytest.fixture(scope="module")
def client():
    # Functions of this module run on the workers, which cannot import it.
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
        cloudpickle.unregister_pickle_by_value(module)


@pytest.fixture(scope="module")
def data(digits01):
    return digits01[0][:160]


def _search_scores(search):
    results = search.cv_results_
    keys = sorted(k for k in results if "test_score" in k and k.startswith("split"))
    return {key: np.asarray(results[key]) for key in keys}


def _fit_both(make_search, X, client):
    """Fit a search locally (n_jobs=1) and on the cluster; both fitted searches."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = make_search(n_jobs=1).fit(X)
        with (
            distributed.get_task_stream(client) as stream,
            joblib.parallel_config(backend="dask"),
        ):
            remote = make_search(n_jobs=-1).fit(X)
    return local, remote, stream


def test_grid_search_on_dask_equals_a_local_run(client, data, fast):
    def make_search(n_jobs):
        return GridSearchCV(
            GMVAEClustering(n_clusters=3, random_state=0, **fast),
            {"n_clusters": [2, 3], "learning_rate_init": [1e-3, 3e-3]},
            cv=2,
            n_jobs=n_jobs,
        )

    local, remote, stream = _fit_both(make_search, data, client)
    # The fits ran as tasks of the cluster's workers.
    workers = {task["worker"] for task in stream.data}
    assert len(stream.data) >= 8
    assert workers and all(w.startswith("tcp://127.0.0.1") for w in workers)
    local_scores, remote_scores = _search_scores(local), _search_scores(remote)
    assert local_scores.keys() == remote_scores.keys()
    for key, scores in local_scores.items():
        np.testing.assert_array_equal(remote_scores[key], scores, err_msg=key)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict(data), local.predict(data))


@pytest.mark.usefixtures("two_threads")
def test_default_search_on_one_thread_workers_equals_a_two_thread_run(
    client, monkeypatch
):
    # The defaults (graph start, neighbour terms) on real digits: the local
    # run has torch and the BLAS libraries on two threads, each worker one.
    monkeypatch.setattr(threads_module, "idle_cpus", lambda *a, **k: None)
    X = load_digits().data[:640] / 16.0

    def make_search(n_jobs):
        return GridSearchCV(
            GMVAEClustering(random_state=0, max_iter=3),
            {"n_clusters": [8, 10]},
            cv=2,
            n_jobs=n_jobs,
        )

    local, remote, _ = _fit_both(make_search, X, client)
    for key, scores in _search_scores(local).items():
        np.testing.assert_array_equal(_search_scores(remote)[key], scores, key)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(
        remote.best_estimator_.labels_, local.best_estimator_.labels_
    )
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))


def test_randomized_search_on_dask_equals_a_local_run(client, data, fast):
    def make_search(n_jobs):
        return RandomizedSearchCV(
            GMVAEClustering(n_clusters=3, **fast),
            {"random_state": list(range(10)), "batch_size": [32, 64]},
            n_iter=3,
            cv=2,
            random_state=0,
            n_jobs=n_jobs,
        )

    local, remote, _ = _fit_both(make_search, data, client)
    for key, scores in _search_scores(local).items():
        np.testing.assert_array_equal(_search_scores(remote)[key], scores)
    assert remote.best_params_ == local.best_params_


def _fit_in_task(X, params):
    """Fit in a Dask task whose process runs torch with two threads."""
    import skgmvae._training as training_module

    seen, objectives = [], []
    original = training_module._run_epoch

    def spy(module, data, objective, *args, **kwargs):
        # Each call of the training loop trains its own objective object.
        if not objectives or objectives[-1] is not objective:
            objectives.append(objective)
            seen.append(torch.get_num_threads())
        return original(module, data, objective, *args, **kwargs)

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    training_module._run_epoch = spy
    try:
        GMVAEClustering(**params).fit(X)
        after = torch.get_num_threads()
    finally:
        training_module._run_epoch = original
        torch.set_num_threads(previous)
    return seen, after


def test_fit_in_a_one_thread_worker_uses_one_torch_thread(client, data, fast):
    params = dict(fast, n_clusters=3, random_state=0)
    seen, after = client.submit(_fit_in_task, data, params, pure=False).result()
    # autoencoder, alignment and neighbour warm-up stages, then the ELBO
    assert seen == [1, 1, 1, 1]
    assert after == 2  # restored

"""A seeded fit gives the same bits whatever the number of threads."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, load_iris
from sklearn.preprocessing import MinMaxScaler
from threadpoolctl import threadpool_info, threadpool_limits

import skgmvae._threads as threads_module
from skgmvae import GMVAEClustering
from skgmvae._determinism import single_threaded_numerics, strict_mkl
from skgmvae._distributions import softmax
from skgmvae._graph import embed_graph, fuzzy_neighbor_graph
from skgmvae._neighbors import nearest_neighbors
from skgmvae._training import batch_bounds

needs_strict_mkl = pytest.mark.skipif(
    not strict_mkl(), reason="torch's MKL is not in its strict reproducible mode"
)


def test_importing_the_package_turns_on_strict_mkl():
    if not torch.backends.mkl.is_available() or "MKL_CBWR" in os.environ:
        pytest.skip("no MKL in torch, or the user chose MKL's mode")
    assert strict_mkl()


@needs_strict_mkl
def test_products_with_few_output_rows_do_not_depend_on_threads(two_threads):
    # The weight gradient of a 10-cluster head: a product with 10 output
    # rows, which MKL's default mode sums differently on 1 and 2 threads.
    g = torch.Generator().manual_seed(0)
    grad_out = torch.randn(10, 128, generator=g)
    hidden = torch.randn(128, 512, generator=g)
    torch.set_num_threads(1)
    one = grad_out @ hidden
    torch.set_num_threads(2)
    two = grad_out @ hidden
    assert torch.equal(one, two)


@pytest.mark.parametrize(
    ("n_samples", "batch_size"),
    [
        (1797, 128),
        (10_000, 256),
        (70_000, 512),
        (320, 64),
        (330, 128),
        (500, 512),
        (449, 32),
        (449, 40),
        (1000, 100),
    ],
)
def test_batches_are_whole_multiples_of_32_rows(n_samples, batch_size):
    bounds = batch_bounds(n_samples, batch_size)
    sizes = [stop - start for start, stop in bounds]
    assert len(bounds) == -(-(n_samples // 32) // (batch_size // 32))
    assert bounds[0][0] == 0 and 0 <= n_samples - bounds[-1][1] < 32
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert all(size % 32 == 0 and size > 0 for size in sizes)
    assert max(sizes) <= batch_size and max(sizes) - min(sizes) <= 32


@pytest.mark.parametrize(
    ("n_samples", "batch_size"), [(50, 64), (5, 64), (300, 128), (1000, 16)]
)
def test_small_data_has_full_batches_and_a_remainder(n_samples, batch_size):
    bounds = batch_bounds(n_samples, batch_size)
    sizes = [stop - start for start, stop in bounds]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_samples
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert sizes[:-1] == [batch_size] * (len(sizes) - 1)
    assert 0 < sizes[-1] <= batch_size


@pytest.mark.parametrize("n_categories", [3, 10, 17, 33])
def test_softmax_gradient_does_not_depend_on_threads(two_threads, n_categories):
    # torch.softmax's backward kernel differs on 1 and 2 threads on AVX2
    # CPUs when K is not a whole number of vectors (K = 10 on an AMD EPYC).
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(512, n_categories, generator=g)
    weights = torch.randn(512, n_categories, generator=g)
    grads = []
    for n_threads in (1, 2):
        torch.set_num_threads(n_threads)
        x = logits.clone().requires_grad_()
        (softmax(x) * weights).sum().backward()
        grads.append(x.grad)
    assert torch.equal(*grads)
    torch.testing.assert_close(softmax(logits), torch.softmax(logits, dim=-1))


def test_single_threaded_numerics_leaves_torch_threads_alone(two_threads):
    import sklearn.cluster  # noqa: F401  (loads scikit-learn's OpenMP)

    torch_dir = os.path.realpath(os.path.dirname(torch.__file__))

    def counts():
        others, own = [], []
        for lib in threadpool_info():
            inside = os.path.realpath(lib["filepath"]).startswith(torch_dir)
            (own if inside else others).append(lib["num_threads"])
        return others, own

    before = counts()
    with single_threaded_numerics():
        others, own = counts()
        assert others and set(others) == {1}
        assert torch.get_num_threads() == 2
    assert counts() == before


def _fit(X, n_clusters, n_threads):
    """A default fit with torch and the BLAS/OpenMP libraries at n_threads."""
    previous = torch.get_num_threads()
    try:
        with threadpool_limits(limits=n_threads):
            torch.set_num_threads(n_threads)
            model = GMVAEClustering(n_clusters=n_clusters, random_state=0)
            return model.fit(X)
    finally:
        torch.set_num_threads(previous)


@needs_strict_mkl
@pytest.mark.parametrize("name", ["iris", "digits"])
def test_default_fit_gives_the_same_result_on_one_and_two_threads(name, monkeypatch):
    # Two threads even where the machine is busy: the idle-CPU cap would
    # otherwise make both fits single-threaded.
    monkeypatch.setattr(threads_module, "idle_cpus", lambda *a, **k: None)
    if name == "iris":
        X = MinMaxScaler().fit_transform(load_iris().data)
        n_clusters = 3
    else:
        X = load_digits().data / 16.0
        n_clusters = 10
    one, two = _fit(X, n_clusters, 1), _fit(X, n_clusters, 2)
    np.testing.assert_array_equal(one.labels_, two.labels_)
    assert one.lower_bound_ == two.lower_bound_
    assert one.loss_curve_ == two.loss_curve_
    np.testing.assert_array_equal(one.predict_proba(X), two.predict_proba(X))


def test_graph_layout_does_not_depend_on_threads(two_threads):
    # Enough edges (over 32,768) for torch to split the layout's elementwise
    # operations between two threads.
    codes = np.random.default_rng(0).normal(size=(6000, 10)).astype(np.float32)
    graph = fuzzy_neighbor_graph(*nearest_neighbors(codes, 10))
    assert graph.nnz > 40_000
    layouts = []
    for n_threads in (1, 2):
        torch.set_num_threads(n_threads)
        generator = torch.Generator().manual_seed(0)
        layouts.append(embed_graph(graph, codes, n_epochs=5, generator=generator))
    np.testing.assert_array_equal(*layouts)

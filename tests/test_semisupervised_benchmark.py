"""Tests of benchmarks/semisupervised.py: label draws, protocols, table, a run."""

from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "semisupervised.py"


@pytest.fixture(scope="module")
def bench(import_script):
    return import_script(SCRIPT, "skgmvae_benchmark_semisupervised")


def test_labels_are_drawn_equally_per_class(bench):
    y = np.repeat(np.arange(4), 25)
    partial = bench.hide_labels(y, 8, seed=0)
    kept = partial[partial != -1]
    np.testing.assert_array_equal(np.bincount(kept), [2, 2, 2, 2])
    np.testing.assert_array_equal(partial[partial != -1], y[partial != -1])
    assert not np.array_equal(partial, bench.hide_labels(y, 8, seed=1))
    with pytest.raises(ValueError, match="multiple"):
        bench.hide_labels(y, 6, seed=0)


def test_mnist_protocol_splits_off_the_test_images(bench):
    X, y = np.zeros((70_000, 2)), np.arange(70_000)
    (X_train, y_train), (X_test, y_test) = bench.split("mnist", X, y)
    assert X_train.shape[0] == 60_000 and y_test[0] == 60_000
    train, test = bench.split("digits", X[:10], y[:10])
    assert test is None and train[0].shape[0] == 10


def test_table_has_one_row_per_setting(bench):
    records = [
        {"dataset": "d", "labels": 10, "method": m, "accuracy": a, "seconds": 2.0}
        for m, a in [("gmvae", 0.9), ("gmvae", 0.8), ("label-spreading", 0.7)]
    ]
    lines = bench.markdown(records).splitlines()
    assert len(lines) == 4
    assert "| d | 10 | gmvae | 2 | 0.8500 | 0.8000 | 15.00% | 2.0 |" in lines


def test_unknown_method_is_rejected(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--methods", "kmeans"])


@pytest.mark.parametrize("method", ["labelled-only", "label-spreading"])
def test_one_run_on_digits(bench, digits01, method):
    X, y = digits01
    record = bench.run_one("d", method, 10, 0, (X, y), None, "float32")
    assert 0.0 <= record["accuracy"] <= 1.0
    assert record["error"] == pytest.approx(1.0 - record["accuracy"])
    assert record["evaluated_on"] == "unlabelled training rows"

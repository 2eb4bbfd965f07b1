"""benchmarks/unequal_blobs.py: its data sets and a tiny run's report."""

import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "unequal_blobs.py"


@pytest.fixture(scope="module")
def blobs(import_script):
    """benchmarks/unequal_blobs.py imported as a module."""
    return import_script(SCRIPT, "skgmvae_unequal_blobs")


def test_blob_sizes_fall_geometrically_to_the_ratio(blobs):
    assert blobs.blob_sizes(3, 100.0) == [2000, 200, 20]
    sizes = blobs.blob_sizes(10, 100.0)
    assert sizes[0] == 2000 and sizes[-1] == 20
    assert np.all(np.diff(sizes) < 0)


def test_each_seed_draws_separated_standardized_blobs(blobs):
    X, y = blobs.separated_blobs(20, 5, 100.0, seed=3)
    assert X.shape == (2915, 20)
    np.testing.assert_array_equal(np.bincount(y), blobs.blob_sizes(5, 100.0))
    np.testing.assert_allclose(X.std(0), 1.0)
    means = np.array([X[y == k].mean(0) for k in range(5)])
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(5, 1)]
    spread = max(X[y == k].std(0).max() for k in range(5))
    assert gaps.min() > 5 * spread  # far apart for their spread
    X_other, _ = blobs.separated_blobs(20, 5, 100.0, seed=4)
    assert not np.allclose(X, X_other)


def test_tiny_run_writes_its_table(blobs, tmp_path):
    argv = [
        "--dims",
        "2",
        "--clusters",
        "3",
        "--ratio",
        "10",
        "--seeds",
        "2",
        "--quick",
    ]
    assert blobs.main([*argv, "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "unequal_blobs.json").read_text())["runs"]
    assert [(row["dim"], row["K"], row["seed"]) for row in rows] == [
        (2, 3, 0),
        (2, 3, 1),
    ]
    assert all(-1 <= row[m] <= 1 for row in rows for m in blobs.METHODS)
    table = (tmp_path / "unequal_blobs.md").read_text().splitlines()
    (line,) = [line for line in table if line.startswith("| 2 |")]
    assert line.startswith("| 2 | 3 | 2000 to 200 |")
    kmeans_hits = sum(row["kmeans"] >= 0.95 for row in rows)
    assert f"{kmeans_hits} of 2" in line


def test_blobs_kept_means_no_two_blobs_share_a_cluster(blobs):
    y = np.repeat([0, 1, 2], [50, 10, 5])
    assert blobs.blobs_kept(y, y)
    assert blobs.blobs_kept(y, np.where(np.arange(65) == 0, 2, y))  # one stray
    assert not blobs.blobs_kept(y, np.minimum(y, 1))  # the two small joined

"""benchmarks/generated.py: its data sets and a tiny run's report."""

import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "generated.py"


@pytest.fixture(scope="module")
def generated(import_script):
    """benchmarks/generated.py imported as a module."""
    return import_script(SCRIPT, "skgmvae_generated_benchmark")


def test_each_set_is_drawn_standardized_with_its_classes(generated):
    classes = {
        "gaussian_5": 5,
        "gaussian_8_unequal": 8,
        "two_per_class": 3,
        "sheared_unequal": 4,
        "blobs_15": 15,
        "moons": 2,
        "rings": 2,
        "heavy_tailed_dominant": 5,
        "dominant_class": 7,
        "sphere_directions": 6,
    }
    assert set(generated.SETS) == set(classes)
    for name, n_classes in classes.items():
        X, y = generated.draw(name, seed=1)
        assert X.shape[0] == y.shape[0] and np.unique(y).size == n_classes, name
        np.testing.assert_allclose(X.mean(0), 0.0, atol=1e-10)
        np.testing.assert_allclose(X.std(0), 1.0)
        X_again, _ = generated.draw(name, seed=1)
        X_other, _ = generated.draw(name, seed=2)
        np.testing.assert_array_equal(X, X_again)
        assert not np.allclose(X, X_other), name


def test_unequal_sets_keep_their_sizes(generated):
    _, y = generated.draw("sheared_unequal", seed=0)
    np.testing.assert_array_equal(np.bincount(y), [1500, 500, 150, 50])
    _, y = generated.draw("heavy_tailed_dominant", seed=0)
    np.testing.assert_array_equal(np.bincount(y), [4000, 600, 250, 100, 50])
    _, y = generated.draw("dominant_class", seed=0)
    np.testing.assert_array_equal(np.bincount(y), [45586, 8903, 3267, 171, 50, 13, 10])
    _, y = generated.draw("gaussian_8_unequal", seed=0)
    sizes = np.bincount(y)
    assert sizes[0] > 15 * sizes[-1]


def test_tiny_run_writes_its_table(generated, tmp_path):
    argv = ["--sets", "rings", "--seeds", "2", "--quick", "--out", str(tmp_path)]
    assert generated.main(argv) == 0
    rows = json.loads((tmp_path / "generated.json").read_text())["runs"]
    assert [(row["set"], row["seed"]) for row in rows] == [("rings", 0), ("rings", 1)]
    for method in generated.METHODS:
        assert all(0.5 <= row[f"{method} acc"] <= 1 for row in rows)
    table = (tmp_path / "generated.md").read_text().splitlines()
    (line,) = [line for line in table if line.startswith("| rings |")]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    kmeans = np.array([row["kmeans acc"] for row in rows])
    assert cells[:2] == ["rings", "2"]
    assert cells[4] == f"{kmeans.mean():.3f} ({kmeans.min():.3f})"

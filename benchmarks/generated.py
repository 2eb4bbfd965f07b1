"""Generated data of shapes the real benchmark sets lack: ACC and ARI.

The defaults were chosen on a few real data sets; these generated ones ask
how they do on other shapes, each a new draw per seed, standardized as a
user would before clustering:

- ``gaussian_5``: 2,000 samples of 5 Gaussian classes in 20 features, 8
  informative and 4 redundant (``make_classification``, ``class_sep=1.5``);
- ``gaussian_8_unequal``: 3,000 samples of 8 Gaussian classes in 50
  features, 10 informative and 5 redundant, class shares falling
  geometrically by 20:1 (``class_sep=2``);
- ``two_per_class``: 1,500 samples of 3 classes in 12 features, each class
  two Gaussian clouds (``n_clusters_per_class=2``): classes that are not
  clusters;
- ``sheared_unequal``: 8-D blobs of 1,500, 500, 150 and 50 samples with
  standard deviations 1, 2, 0.5 and 1, times a random 8 x 8 matrix;
- ``blobs_15``: 3,000 samples of 15 blobs in 64 features (``cluster_std=3``);
- ``moons`` and ``rings``: ``make_moons(1000, noise=0.08)`` and
  ``make_circles(1000, noise=0.05, factor=0.5)``;
- ``heavy_tailed_dominant``: 10-D Student-t clouds (4 degrees of freedom)
  of 4,000, 600, 250, 100 and 50 samples, each linearly mixed;
- ``dominant_class``: 58,000 samples of 9 features in 7 classes with the
  class sizes of the Statlog Shuttle data (45,586, 8,903, 3,267, 171, 50,
  13 and 10: 78.6% in one class), each class a linearly mixed Student-t
  cloud (4 degrees of freedom) and three features raised to the power 1.5
  (sign kept), so that the groups are skewed as well as heavy-tailed. It
  takes most of the script's time (a GMVAE fit of a few minutes on one
  thread);
- ``sphere_directions``: 2,400 unit vectors in 32 dimensions around 6
  random directions, as normalized embeddings are.

Each method gets ``random_state=seed`` and the number of classes as its
number of clusters: ``GMVAEClustering`` with its defaults, ``KMeans`` (10
initialisations) and diagonal and full ``GaussianMixture`` (one
initialisation, the default)::

    python benchmarks/generated.py --seeds 3 --threads 1
    python benchmarks/generated.py --sets moons rings --seeds 5

Results go to ``benchmarks/results/generated/generated.json`` (each fit as
it ends) and ``.md`` (per set and method: mean ACC with the worst seed's,
and mean ARI), or to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # benchmarks/ is not a package
    sys.path.insert(0, str(HERE))

import bench_env
import numpy as np
import run  # the estimators, built as the main benchmark builds them
from sklearn.datasets import make_blobs, make_circles, make_classification, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from skgmvae.metrics import cluster_accuracy

METHODS = ("gmvae", "kmeans", "gmm-diag", "gmm-full")

DataSet = tuple[np.ndarray, np.ndarray]


def gaussian_5(seed: int) -> DataSet:
    return make_classification(
        2000, 20, n_informative=8, n_redundant=4, n_classes=5,
        n_clusters_per_class=1, class_sep=1.5, random_state=seed,
    )  # fmt: skip


def gaussian_8_unequal(seed: int) -> DataSet:
    shares = np.geomspace(1.0, 0.05, 8)
    return make_classification(
        3000, 50, n_informative=10, n_redundant=5, n_classes=8,
        n_clusters_per_class=1, class_sep=2.0, weights=list(shares / shares.sum()),
        random_state=seed,
    )  # fmt: skip


def two_per_class(seed: int) -> DataSet:
    return make_classification(
        1500, 12, n_informative=6, n_redundant=2, n_classes=3,
        n_clusters_per_class=2, class_sep=2.0, random_state=seed,
    )  # fmt: skip


def sheared_unequal(seed: int) -> DataSet:
    X, y = make_blobs(
        [1500, 500, 150, 50], n_features=8, cluster_std=[1.0, 2.0, 0.5, 1.0],
        random_state=seed,
    )  # fmt: skip
    return X @ np.random.RandomState(seed).randn(8, 8), y


def blobs_15(seed: int) -> DataSet:
    return make_blobs(
        3000, n_features=64, centers=15, cluster_std=3.0, random_state=seed
    )


def moons(seed: int) -> DataSet:
    return make_moons(1000, noise=0.08, random_state=seed)


def rings(seed: int) -> DataSet:
    return make_circles(1000, noise=0.05, factor=0.5, random_state=seed)


def _student_t_clouds(
    seed: int, sizes: list[int], n_features: int, spread: float
) -> DataSet:
    """One linearly mixed Student-t cloud (4 degrees of freedom) a class,
    centred at a normal draw of scale ``spread``."""
    rng = np.random.RandomState(seed)
    clouds = [
        rng.standard_t(4, size=(size, n_features)) @ rng.randn(n_features, n_features)
        + spread * rng.randn(n_features)
        for size in sizes
    ]
    return np.vstack(clouds), np.repeat(np.arange(len(sizes)), sizes)


def heavy_tailed_dominant(seed: int) -> DataSet:
    return _student_t_clouds(seed, [4000, 600, 250, 100, 50], 10, spread=6.0)


def dominant_class(seed: int) -> DataSet:
    sizes = [45586, 8903, 3267, 171, 50, 13, 10]
    X, y = _student_t_clouds(seed, sizes, 9, spread=3.0)
    X[:, :3] = np.sign(X[:, :3]) * np.abs(X[:, :3]) ** 1.5
    return X, y


def sphere_directions(seed: int) -> DataSet:
    rng = np.random.RandomState(seed)
    directions = rng.randn(6, 32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    y = rng.randint(6, size=2400)
    X = 4.0 * directions[y] + rng.randn(2400, 32)
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


SETS: dict[str, Callable[[int], DataSet]] = {
    f.__name__: f
    for f in (
        gaussian_5,
        gaussian_8_unequal,
        two_per_class,
        sheared_unequal,
        blobs_15,
        moons,
        rings,
        heavy_tailed_dominant,
        dominant_class,
        sphere_directions,
    )
}


def draw(name: str, seed: int) -> DataSet:
    """Data set ``name`` drawn with ``seed``, standardized."""
    X, y = SETS[name](seed)
    return StandardScaler().fit_transform(X), y


def summary_lines(rows: list[dict]) -> list[str]:
    """One markdown row per set: per method, mean ACC (worst) and mean ARI."""
    header = "| data set | seeds | " + " | ".join(
        f"{m} ACC (worst) | {m} ARI" for m in METHODS
    )
    lines = [header + " |", "| " + " | ".join(["---"] * (2 + 2 * len(METHODS))) + " |"]
    for name in dict.fromkeys(row["set"] for row in rows):
        group = [row for row in rows if row["set"] == name]
        cells = [name, str(len(group))]
        for method in METHODS:
            acc = np.array([row[f"{method} acc"] for row in group])
            ari = np.array([row[f"{method} ari"] for row in group])
            cells += [f"{acc.mean():.3f} ({acc.min():.3f})", f"{ari.mean():.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="run.py's quick GMVAE")
    args = parser.parse_args(argv)
    options = run.parse_args(["--quick"] if args.quick else [])
    log = bench_env.RunLog("generated.py", argv, args.out)
    with bench_env.limited_threads(args.threads):
        fit_sets(args, options, log)
    log.finish("\n".join(summary_lines(log.records)))
    return 0


def fit_sets(
    args: argparse.Namespace, options: run.Options, log: bench_env.RunLog
) -> None:
    """Fit every method on every (set, seed); one record each."""
    for name in args.sets:
        for seed in range(args.seeds):
            X, y = draw(name, seed)
            n_clusters = np.unique(y).size
            record: dict = {"set": name, "seed": seed}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # empty clusters show in ACC
                for method in METHODS:
                    model = run.make_estimator(method, n_clusters, seed, options)
                    labels = model.fit_predict(X)
                    record[f"{method} acc"] = cluster_accuracy(y, labels)
                    record[f"{method} ari"] = adjusted_rand_score(y, labels)
            log.add(record)


if __name__ == "__main__":
    sys.exit(main())

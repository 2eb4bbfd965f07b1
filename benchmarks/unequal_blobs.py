"""Well separated Gaussian blobs of very unequal sizes: adjusted Rand index.

For each dimension and number of clusters K, the blob sizes fall
geometrically from 2,000 to 2,000 / ratio (100:1 by default), and each seed
draws its own data set: K centres uniform in a cube of side 20 * sqrt(K),
redrawn until every two are at least 10 apart (unit standard deviation),
then standardized. ``GMVAEClustering`` with its defaults, a full-covariance
``GaussianMixture`` (one initialisation, its default) and ``KMeans`` (10
initialisations) each get ``random_state=seed`` and K clusters. Groups this
far apart are found exactly by a good start, so the table counts the seeds
whose adjusted Rand index (ARI) reaches 0.95, gives the worst one, and
counts the seeds in which every blob has a cluster of its own (no two blobs
share their majority cluster): the ARI barely notices the smallest blob
joining another, 0.9996 for 20 samples among 5,000::

    python benchmarks/unequal_blobs.py --seeds 10 --threads 1
    python benchmarks/unequal_blobs.py --dims 2 --clusters 10 --seeds 3

Results go to ``benchmarks/results/unequal_blobs/unequal_blobs.json`` (each
fit as it ends) and ``.md`` (the table), or to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # benchmarks/ is not a package
    sys.path.insert(0, str(HERE))

import bench_env
import numpy as np
import run  # the estimators, built as the main benchmark builds them
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

METHODS = ("gmvae", "gmm-full", "kmeans")


def blob_sizes(n_clusters: int, ratio: float, largest: int = 2000) -> list[int]:
    """Sizes falling geometrically from ``largest`` to ``largest / ratio``."""
    steps = np.arange(n_clusters) / max(n_clusters - 1, 1)
    return [int(round(largest * ratio**-step)) for step in steps]


def separated_blobs(
    n_features: int, n_clusters: int, ratio: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """One standardized data set of the grid and its blob labels."""
    rng = np.random.RandomState(seed)
    half_side = 10.0 * np.sqrt(n_clusters)
    centers = [rng.uniform(-half_side, half_side, n_features)]
    while len(centers) < n_clusters:
        center = rng.uniform(-half_side, half_side, n_features)
        if min(np.linalg.norm(center - other) for other in centers) >= 10.0:
            centers.append(center)
    X, y = make_blobs(
        blob_sizes(n_clusters, ratio), centers=np.array(centers), random_state=seed
    )
    return StandardScaler().fit_transform(X), y


def blobs_kept(y: np.ndarray, labels: np.ndarray) -> bool:
    """Whether every blob's majority cluster differs from the others'."""
    majority = [np.bincount(labels[y == k]).argmax() for k in np.unique(y)]
    return len(set(majority)) == len(majority)


def summary_lines(rows: list[dict], ratio: float) -> list[str]:
    """One markdown row per (dimension, K): seeds at ARI >= 0.95, worst ARI,
    seeds that keep every blob."""
    header = "| dim | K | sizes | " + " | ".join(
        f"{m} ≥ 0.95 | {m} worst | {m} all kept" for m in METHODS
    )
    lines = [header + " |", "| " + " | ".join(["---"] * (3 + 3 * len(METHODS))) + " |"]
    for key in dict.fromkeys((row["dim"], row["K"]) for row in rows):
        group = [row for row in rows if (row["dim"], row["K"]) == key]
        sizes = blob_sizes(key[1], ratio)
        cells = [str(key[0]), str(key[1]), f"{sizes[0]} to {sizes[-1]}"]
        for method in METHODS:
            aris = np.array([row[method] for row in group])
            kept = sum(row[f"{method} kept"] for row in group)
            cells += [f"{(aris >= 0.95).sum()} of {len(aris)}", f"{aris.min():.3f}"]
            cells.append(f"{kept} of {len(group)}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 20])
    parser.add_argument("--clusters", type=int, nargs="+", default=[3, 5, 10])
    parser.add_argument("--ratio", type=float, default=100.0)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="run.py's quick GMVAE")
    args = parser.parse_args(argv)
    options = run.parse_args(["--quick"] if args.quick else [])
    log = bench_env.RunLog("unequal_blobs.py", argv, args.out)
    with bench_env.limited_threads(args.threads):
        fit_grid(args, options, log)
    log.finish("\n".join(summary_lines(log.records, args.ratio)))
    return 0


def fit_grid(
    args: argparse.Namespace, options: run.Options, log: bench_env.RunLog
) -> None:
    """Fit every method on every (dimension, K, seed) data set; one record each."""
    for dim in args.dims:
        for n_clusters in args.clusters:
            for seed in range(args.seeds):
                X, y = separated_blobs(dim, n_clusters, args.ratio, seed)
                record = {"dim": dim, "K": n_clusters, "seed": seed}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # empty clusters show in ARI
                    for method in METHODS:
                        model = run.make_estimator(method, n_clusters, seed, options)
                        labels = model.fit_predict(X)
                        record[method] = adjusted_rand_score(y, labels)
                        record[f"{method} kept"] = blobs_kept(y, labels)
                log.add(record)


if __name__ == "__main__":
    sys.exit(main())

"""The alternatives a user would try instead: UMAP + a Gaussian mixture.

Runs, per data set and seed, with time and clustering accuracy:

- ``umap-gmm``: UMAP (umap-learn, the ``bench`` extra) of the raw data to
  ``n_clusters`` dimensions, then a full-covariance ``GaussianMixture``;
- ``n2d``: the same on the codes of an autoencoder, the N2D recipe
  (McConville et al., 2019); the autoencoder is the warm-up autoencoder of
  ``GMVAEClustering`` with its defaults, so the time includes its training;
- ``gmvae``: a default ``GMVAEClustering`` fit.

UMAP uses ``n_neighbors=20`` and ``min_dist=0`` as N2D does, and is seeded
(``random_state``), which makes it run single-threaded; ``--umap-parallel``
leaves it unseeded and parallel, as a user after speed would run it.

Prints a Markdown table and saves ``peers.json`` and ``peers.md`` in
``--out``. Example::

    python benchmarks/peers.py --datasets digits mnist --seeds 3
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_env  # noqa: E402

from skgmvae import GMVAEClustering  # noqa: E402
from skgmvae._fitting import new_module  # noqa: E402
from skgmvae._tensors import make_generator  # noqa: E402
from skgmvae._warmup import STAGES, WarmupContext, run_warmup  # noqa: E402
from skgmvae.datasets import load_dataset  # noqa: E402
from skgmvae.metrics import cluster_accuracy  # noqa: E402

METHODS = ("umap-gmm", "n2d", "gmvae")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--data-dir",
        default=bench_env.default_data_dir(),
        help="folder with mnist.npz etc. (default: $SKGMVAE_DATA, else "
        "../shared/data beside the repository if it exists)",
    )
    parser.add_argument("--umap-parallel", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    return args


def umap_gmm(Z: np.ndarray, n_clusters: int, seed: int, parallel: bool) -> np.ndarray:
    """Labels of a full-covariance mixture on a UMAP embedding of ``Z``."""
    import umap

    reducer = umap.UMAP(
        n_components=n_clusters,
        n_neighbors=20,
        min_dist=0.0,
        random_state=None if parallel else seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        embedding = reducer.fit_transform(Z)
    mixture = GaussianMixture(n_clusters, covariance_type="full", random_state=seed)
    return mixture.fit_predict(embedding)


def autoencoder_codes(
    X: np.ndarray, n_clusters: int, seed: int, **params
) -> np.ndarray:
    """Standardized codes of GMVAEClustering's warm-up autoencoder.

    ``params`` are further parameters of the estimator (defaults otherwise).
    """
    model = GMVAEClustering(n_clusters=n_clusters, random_state=seed, **params)
    data = model._prepare(X, first=True)
    settings = model._fit_settings()
    rng = np.random.RandomState(seed)
    module = new_module(data, settings, rng)
    context = WarmupContext(
        module,
        data.X_t,
        settings.init_params,
        settings.pretrain_iter,
        None,
        data.config,
        settings.learning_rate,
        rng,
        make_generator(rng, data.device),
    )
    run_warmup(context, stages=STAGES[:2])  # autoencoder, codes
    return context.codes


def run_method(method: str, X, n_clusters: int, seed: int, parallel: bool):
    if method == "umap-gmm":
        return umap_gmm(X, n_clusters, seed, parallel)
    if method == "n2d":
        return umap_gmm(
            autoencoder_codes(X, n_clusters, seed), n_clusters, seed, parallel
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GMVAEClustering(n_clusters=n_clusters, random_state=seed).fit_predict(X)


def main(argv=None) -> None:
    args = parse_args(argv)
    log = bench_env.RunLog("peers.py", argv, args.out)
    for name in args.datasets:
        X, y = load_dataset(name, data_dir=args.data_dir)
        n_clusters = len(np.unique(y))
        for method in args.methods:
            for seed in range(args.seeds):
                tic = time.perf_counter()
                labels = run_method(method, X, n_clusters, seed, args.umap_parallel)
                seconds = time.perf_counter() - tic
                record = {
                    "dataset": name,
                    "method": method,
                    "seed": seed,
                    "acc": cluster_accuracy(y, labels),
                    "nmi": normalized_mutual_info_score(y, labels),
                    "seconds": seconds,
                    "torch_threads": torch.get_num_threads(),
                }
                log.add(record)
    log.finish(markdown(log.records))


def markdown(records: list[dict]) -> str:
    lines = [
        "| data | method | seeds | ACC mean | worst | NMI mean | time mean (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    keys = dict.fromkeys((r["dataset"], r["method"]) for r in records)
    for name, method in keys:
        runs = [r for r in records if (r["dataset"], r["method"]) == (name, method)]
        acc = [r["acc"] for r in runs]
        lines.append(
            f"| {name} | {method} | {len(runs)} | {np.mean(acc):.3f} | "
            f"{min(acc):.3f} | {np.mean([r['nmi'] for r in runs]):.3f} | "
            f"{np.mean([r['seconds'] for r in runs]):.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Semi-supervised classification with a few labels: GMVAEClassifier and peers.

Per data set, number of labels and label draw (seed), with accuracy, error
and time:

- ``gmvae``: a default ``GMVAEClassifier`` fitted on every training row,
  the unlabelled ones marked -1;
- ``labelled-only``: the same classifier fitted on the labelled rows alone,
  so that the gain from the unlabelled rows shows;
- ``label-spreading``: ``sklearn.semi_supervised.LabelSpreading`` (10
  nearest neighbours) on the same data.

The labels are drawn per seed, the same number from every class. Protocols:

- ``digits``: all 1,797 images are the training rows; accuracy on the rows
  whose label was hidden.
- ``mnist``: the 60,000 training images are the training rows (the
  literature's protocol, Kingma et al. 2014); test error on the 10,000 test
  images.

Prints a Markdown table and saves ``semisupervised.json`` and
``semisupervised.md`` in ``--out``. Example::

    python benchmarks/semisupervised.py --datasets digits --labels 50 --seeds 5
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.semi_supervised import LabelSpreading

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_env  # noqa: E402

from skgmvae import GMVAEClassifier  # noqa: E402
from skgmvae.datasets import load_dataset  # noqa: E402

METHODS = ("gmvae", "labelled-only", "label-spreading")
# Training rows of each protocol: None is every row (transductive).
TRAIN_ROWS = {"mnist": 60_000}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits"])
    parser.add_argument(
        "--labels", nargs="+", type=int, default=[50], help="labels per data set"
    )
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--data-dir",
        default=bench_env.default_data_dir(),
        help="folder with mnist.npz (default: $SKGMVAE_DATA, else "
        "../shared/data beside the repository if it exists)",
    )
    parser.add_argument("--precision", default="float32")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit torch, BLAS and OpenMP to this many threads",
    )
    parser.add_argument("--out", default=None)
    return parser.parse_args(argv)


def split(name: str, X: np.ndarray, y: np.ndarray):
    """Training rows and evaluation rows of the data set's protocol; for a
    transductive protocol the evaluation rows are None."""
    n_train = TRAIN_ROWS.get(name)
    if n_train is None:
        return (X, y), None
    return (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])


def hide_labels(y: np.ndarray, n_labels: int, seed: int) -> np.ndarray:
    """``y`` with all but ``n_labels`` rows (equally many per class) set to -1."""
    classes = np.unique(y)
    per_class, extra = divmod(n_labels, classes.size)
    if per_class < 1 or extra:
        raise ValueError(
            f"--labels {n_labels} must be a positive multiple of the "
            f"{classes.size} classes."
        )
    rng = np.random.RandomState(seed)
    keep = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in classes]
    )
    partial = np.full_like(y, -1)
    partial[keep] = y[keep]
    return partial


def fit_method(method: str, X, partial, seed: int, precision: str):
    """A fitted model with a ``predict`` method."""
    if method == "label-spreading":
        return LabelSpreading(kernel="knn", n_neighbors=10).fit(X, partial)
    model = GMVAEClassifier(random_state=seed, precision=precision)
    labelled = partial != -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "labelled-only":
            return model.fit(X[labelled], partial[labelled])
        return model.fit(X, partial)


def run_one(name, method, n_labels, seed, train, test, precision) -> dict:
    X, y = train
    partial = hide_labels(y, n_labels, seed)
    tic = time.perf_counter()
    model = fit_method(method, X, partial, seed, precision)
    seconds = time.perf_counter() - tic
    if test is None:
        hidden = partial == -1
        X_eval, y_eval, evaluated = X[hidden], y[hidden], "unlabelled training rows"
    else:
        (X_eval, y_eval), evaluated = test, "test rows"
    accuracy = float((model.predict(X_eval) == y_eval).mean())
    return {
        "dataset": name,
        "method": method,
        "labels": n_labels,
        "seed": seed,
        "accuracy": accuracy,
        "error": 1.0 - accuracy,
        "evaluated_on": evaluated,
        "seconds": seconds,
        "torch_threads": torch.get_num_threads(),
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.threads:
        run_all(args, argv)
        return
    # torch, BLAS and OpenMP: LabelSpreading's products run on BLAS.
    with bench_env.limited_threads(args.threads):
        run_all(args, argv)


def run_all(args: argparse.Namespace, argv) -> None:
    """Every data set, label count, method and seed; the log's outputs."""
    log = bench_env.RunLog("semisupervised.py", argv, args.out)
    for name in args.datasets:
        train, test = split(name, *load_dataset(name, data_dir=args.data_dir))
        for n_labels in args.labels:
            for method in args.methods:
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    record = run_one(
                        name, method, n_labels, seed, train, test, args.precision
                    )
                    log.add(record)
    log.finish(markdown(log.records))


def markdown(records: list[dict]) -> str:
    lines = [
        "| data | labels | method | seeds | accuracy mean | worst | error mean "
        "| time mean (s) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    keys = dict.fromkeys((r["dataset"], r["labels"], r["method"]) for r in records)
    for key in keys:
        runs = [r for r in records if (r["dataset"], r["labels"], r["method"]) == key]
        accuracy = [r["accuracy"] for r in runs]
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {len(runs)} | "
            f"{np.mean(accuracy):.4f} | {min(accuracy):.4f} | "
            f"{100 * (1 - np.mean(accuracy)):.2f}% | "
            f"{np.mean([r['seconds'] for r in runs]):.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

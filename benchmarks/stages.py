"""Time of each stage of a default ``GMVAEClustering`` fit.

Fits with ``verbose=1`` and reads the stage times the estimator prints:
autoencoder, codes, neighbour search, initial clusters (the graph start),
alignment, neighbour stage and ELBO (the sum of its epochs); ``other`` is the
rest of the fit (the ELBO of the kept model, the labels). The log gives
each stage to 0.1 s (the ELBO's epochs to 0.01 s). ``predict`` times
a prediction of the training data after the fit. With ``--n-samples`` the
first rows of the data set are used, one fit per size, for a scaling series.

Prints a Markdown table and saves ``stages.json`` and ``stages.md`` in
``--out``. Examples::

    python benchmarks/stages.py --dataset mnist --seeds 1
    python benchmarks/stages.py --dataset mnist --n-samples 10000 20000 40000 70000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_env  # noqa: E402

from skgmvae import GMVAEClustering  # noqa: E402
from skgmvae._warmup import STAGES as WARMUP_STAGES  # noqa: E402
from skgmvae.datasets import DATASETS, load_dataset  # noqa: E402
from skgmvae.metrics import cluster_accuracy  # noqa: E402

STAGES = (*(name for name, _ in WARMUP_STAGES), "ELBO")
_DONE = re.compile(r"^\[(?P<stage>[^\]]+)\] done in (?P<seconds>[\d.]+) s")
_ELBO_EPOCH = re.compile(r"^\[ELBO\] epoch \d+/\d+: .*, (?P<seconds>[\d.]+) s")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=DATASETS)
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1")
    parser.add_argument(
        "--n-samples", type=int, nargs="+", default=None, help="first rows used"
    )
    parser.add_argument("--data-dir", default=bench_env.default_data_dir())
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a GMVAEClustering parameter (int, float or string), repeatable",
    )
    return parser.parse_args(argv)


def stage_seconds(log: str) -> dict[str, float]:
    """Seconds of each stage in a ``verbose=1`` log; ELBO sums its epochs."""
    seconds = dict.fromkeys(STAGES, 0.0)
    for line in log.splitlines():
        if match := _DONE.match(line):
            if match["stage"] in seconds:
                seconds[match["stage"]] += float(match["seconds"])
        elif match := _ELBO_EPOCH.match(line):
            seconds["ELBO"] += float(match["seconds"])
    return seconds


def timed_fit(X, y, seed: int, params: dict[str, Any]) -> dict[str, Any]:
    """One verbose fit, its stage times, ``predict`` time and scores."""
    model = GMVAEClustering(
        n_clusters=len(np.unique(y)), random_state=seed, verbose=1, **params
    )
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        tic = time.perf_counter()
        model.fit(X)
        fit = time.perf_counter() - tic
    tic = time.perf_counter()
    labels = model.predict(X)
    predict = time.perf_counter() - tic
    stages = stage_seconds(log.getvalue())
    return {
        "n_samples": X.shape[0],
        "seed": seed,
        "fit": fit,
        **stages,
        "other": fit - sum(stages.values()),
        "predict": predict,
        "elbo_epochs": model.n_iter_,
        "precision": model.precision_,
        "acc": cluster_accuracy(y, labels),
        "nmi": normalized_mutual_info_score(y, labels),
        "torch_threads": torch.get_num_threads(),
    }


def _param(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return name, kind(value)
    return name, value


def main(argv=None) -> None:
    args = parse_args(argv)
    params = dict(_param(text) for text in args.param)
    log = bench_env.RunLog("stages.py", argv, args.out)
    X, y = load_dataset(args.dataset, data_dir=args.data_dir)
    for n_samples in args.n_samples or [X.shape[0]]:
        for seed in range(args.seeds):
            record = {"dataset": args.dataset}
            record.update(timed_fit(X[:n_samples], y[:n_samples], seed, params))
            log.add(record)
    log.finish(markdown(log.records))


def markdown(records: list[dict[str, Any]]) -> str:
    """One column per fit, one row per stage (seconds), then the scores."""
    header = [f"{r['dataset']} {r['n_samples']}, seed {r['seed']}" for r in records]
    lines = [
        "| stage | " + " | ".join(header) + " |",
        "| --- |" + " ---: |" * len(records),
    ]
    for key in (*STAGES, "other", "fit", "predict"):
        values = " | ".join(f"{r[key]:.1f}" for r in records)
        lines.append(f"| {key} | {values} |")
    scores = (("elbo_epochs", "{}"), ("precision", "{}"), ("acc", "{:.4f}"))
    for key, fmt in (*scores, ("nmi", "{:.4f}")):
        values = " | ".join(fmt.format(r[key]) for r in records)
        lines.append(f"| {key} | {values} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

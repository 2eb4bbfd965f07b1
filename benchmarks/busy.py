"""Fit times on an idle machine and on one that another process keeps busy.

For each data set, a default ``GMVAEClustering(random_state=0)`` is fitted
twice, one fit after the other: first with nothing else running, then while
busy-loop processes, one per CPU, keep every core busy. The table gives both
times, their ratio and the torch threads the fit chose. Run nothing else at
the same time: the point is the effect of one known load.

    python benchmarks/busy.py                       # digits, iris, mnist10k
    python benchmarks/busy.py --datasets iris --no-idle-check

``--no-idle-check`` turns off the estimator's check of idle CPUs (it then
keeps torch's thread count, one per core), to measure the behaviour without
it. Results go to ``benchmarks/results/busy-<time>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # benchmarks/ is not a package
    sys.path.insert(0, str(HERE))

import bench_env
import numpy as np
from sklearn.datasets import load_digits, load_iris
from sklearn.preprocessing import StandardScaler

import skgmvae._threads as threads_module
from skgmvae import GMVAEClustering
from skgmvae.datasets import load_dataset


def load(name: str, data_dir: str | None) -> tuple[np.ndarray, int]:
    """The data set ``name`` scaled as the benchmarks scale it, and its K."""
    if name == "digits":
        return load_digits().data / 16.0, 10
    if name == "iris":
        return StandardScaler().fit_transform(load_iris().data), 3
    X, _ = load_dataset("mnist", data_dir=data_dir)
    return X[: int(name.removeprefix("mnist"))], 10


def timed_fit(X: np.ndarray, n_clusters: int) -> dict:
    threads = threads_module.thread_limit(check_idle=True)
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GMVAEClustering(n_clusters=n_clusters, random_state=0).fit(X)
    return {
        "seconds": time.perf_counter() - tic,
        "threads": threads,
        "n_iter": model.n_iter_,
    }


def busy_fit(X: np.ndarray, n_clusters: int) -> dict:
    """:func:`timed_fit` while one busy-loop process per CPU runs."""
    spin = [sys.executable, "-c", "while True: pass"]
    spinners = [subprocess.Popen(spin) for _ in range(_cpus())]
    try:
        time.sleep(1.0)  # let the load show in the CPUs' counters
        return timed_fit(X, n_clusters)
    finally:
        for process in spinners:
            process.kill()
        for process in spinners:
            process.wait()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return multiprocessing.cpu_count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["digits", "iris", "mnist10000"]
    )
    parser.add_argument("--data-dir", default=str(HERE.parent.parent / "shared/data"))
    parser.add_argument("--no-idle-check", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.no_idle_check:
        threads_module.idle_cpus = lambda seconds=0.0: None
    rows = []
    for name in args.datasets:
        X, n_clusters = load(name, args.data_dir)
        idle = timed_fit(X, n_clusters)
        busy = busy_fit(X, n_clusters)
        row = {"dataset": name, "idle": idle, "busy": busy}
        row["ratio"] = busy["seconds"] / idle["seconds"]
        rows.append(row)
        print(
            f"{name}: idle {idle['seconds']:.1f} s ({idle['threads']} threads), "
            f"busy {busy['seconds']:.1f} s ({busy['threads']} threads), "
            f"ratio {row['ratio']:.2f}",
            flush=True,
        )
    env = bench_env.environment_info(bench_env.command_line("busy.py", argv))
    report = {"idle_check": not args.no_idle_check, "rows": rows, "environment": env}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"busy-{time.strftime('%Y%m%d-%H%M%S')}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    lines = ["| data | idle s | threads | busy s | threads | busy / idle |"]
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        idle, busy = row["idle"], row["busy"]
        lines.append(
            f"| {row['dataset']} | {idle['seconds']:.1f} | {idle['threads']} "
            f"| {busy['seconds']:.1f} | {busy['threads']} | {row['ratio']:.2f} |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

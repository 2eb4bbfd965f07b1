"""Benchmark ``GMVAEClustering`` against k-means and Gaussian mixtures.

Every method clusters the whole data set into as many clusters as it has
classes, once per seed, and is scored against the classes with ACC
(Hungarian matching, :func:`skgmvae.metrics.cluster_accuracy`), NMI and ARI.

Usage::

    python benchmarks/run.py                    # digits, 5 seeds, all methods
    python benchmarks/run.py --quick            # smoke test, well under a minute
    python benchmarks/run.py --datasets digits wine --seeds 3
    python benchmarks/run.py --datasets mnist --methods kmeans gmm-diag --seeds 1
    python benchmarks/run.py --datasets tabular --seeds 5
    python benchmarks/run.py --datasets blobs --methods kmeans gmm-diag gmm-full
    python benchmarks/run.py --datasets digits --class-ratio 10 --seeds 10

``--class-ratio R`` clusters a subset with classes of unequal sizes instead
of the whole set: class k of K (in label order) keeps ``n * R ** (-k / (K -
1))`` of its samples, drawn with a fixed seed, where ``n`` is the size of
the smallest class, so that the sizes fall geometrically from ``n`` to
``n / R`` (on MNIST with ``R = 10``: from about 6,300 to 630). The data set
is then named ``<name>-ratio<R>`` in the outputs.

``--datasets`` also takes group names: ``tabular`` is ``wine breast_cancer
iris glass ionosphere sonar`` and ``blobs`` is ``blobs_imbalanced
blobs_imbalanced_20d``. ``glass``, ``ionosphere`` and ``sonar`` are read
from ``--data-dir`` only (see :func:`skgmvae.datasets.load_dataset`).
The table gives, per data set and method, the mean ± standard deviation and
the worst value of each score over the seeds.

The output folder (``--out``, by default ``benchmarks/results/<timestamp>``)
receives ``results.md`` (the table printed at the end), ``runs.json`` (every
run with the environment, rewritten after each run), ``runs.csv``,
``summary.csv`` and, when matplotlib is installed, PNG figures. See
``benchmarks/README.md`` for the columns.

Ctrl-C stops the benchmark: the run it cut is recorded as interrupted and
left out of the table, the outputs are written and the exit code is 130.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
for _path in (str(HERE), str(REPO_ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import bench_env
import bench_figures
import bench_report
import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture

from skgmvae import GMVAEClustering
from skgmvae._threads import thread_limit  # the estimator's own thread rule
from skgmvae.datasets import DATASETS, IMAGE_SHAPES, load_dataset
from skgmvae.metrics import cluster_accuracy

METHODS = ("gmvae", "kmeans", "gmm-diag", "gmm-full")
# Names --datasets expands into several data sets.
DATASET_GROUPS: dict[str, tuple[str, ...]] = {
    "tabular": ("wine", "breast_cancer", "iris", "glass", "ionosphere", "sonar"),
    "blobs": ("blobs_imbalanced", "blobs_imbalanced_20d"),
}
# Named GMVAEClustering settings for ablations: each changes the defaults
# ("gmvae") by the parameters given. Not run unless named in --methods.
GMVAE_PRESETS: dict[str, dict[str, Any]] = {
    "gmvae": {},
    # As the reference implementation: random start, latent 64, batch 64,
    # the plain ELBO.
    "gmvae-reference": {
        "init_params": "random",
        "latent_dim": 64,
        "batch_size": 64,
        "neighbor_weight": 0.0,
        "balance_weight": 0.0,
    },
    # One lever off (or changed) at a time from the defaults.
    "gmvae-plain-elbo": {"neighbor_weight": 0.0, "balance_weight": 0.0},
    "gmvae-random-init": {"init_params": "random"},
    "gmvae-latent64": {"latent_dim": 64},
    "gmvae-marginal": {"categorical": "marginal"},
    "gmvae-qzx-marginal": {"categorical": "marginal", "conditional_encoder": False},
    "gmvae-spectral": {"init_params": "spectral"},
    # The initialisation of earlier versions: a Gaussian mixture on the codes
    # of a 10-epoch autoencoder.
    "gmvae-gmm-init": {"init_params": "gmm", "pretrain_iter": 10},
    "gmvae-bf16": {"precision": "bfloat16"},
}
# Data sets with more samples than this get LARGE_SEEDS seeds by default.
LARGE_SAMPLES = 20_000
SMALL_SEEDS, LARGE_SEEDS = 5, 3
# GMVAE settings of --quick: enough to exercise every step, not to converge.
QUICK_GMVAE = {"max_iter": 2, "pretrain_iter": 1}


@dataclass
class Options:
    """Parsed command-line options."""

    datasets: list[str]
    methods: list[str]
    seeds: int | None
    device: str
    data_dir: Path | None
    out: Path
    quick: bool
    max_iter: int | None
    gmm_full_max_features: int
    figures: bool
    threads: int | None
    class_ratio: float | None = None
    argv: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- options
def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line (``sys.argv[1:]`` when ``argv`` is None)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=[*DATASETS, *DATASET_GROUPS],
        default=["digits"],
        metavar="NAME",
        help=f"data sets: {', '.join(DATASETS)}, or the groups "
        + ", ".join(f"{k} ({' '.join(v)})" for k, v in DATASET_GROUPS.items())
        + " (default: digits)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=[*METHODS, *GMVAE_PRESETS],
        default=list(METHODS),
        metavar="METHOD",
        help=(
            f"methods: {', '.join(METHODS)} (default), or GMVAE presets: "
            f"{', '.join(p for p in GMVAE_PRESETS if p != 'gmvae')}"
        ),
    )
    parser.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        help=f"seeds 0..N-1 per method (default: {SMALL_SEEDS}, or {LARGE_SEEDS} "
        f"for data sets of more than {LARGE_SAMPLES} samples; 1 with --quick)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="device of GMVAEClustering: cpu, cuda, cuda:N, auto (default: auto)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="folder with mnist.npz etc. (default: $SKGMVAE_DATA, else "
        "../shared/data next to the repository if it exists)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: benchmarks/results/<timestamp>)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 seed, GMVAE with "
        + ", ".join(f"{k}={v}" for k, v in QUICK_GMVAE.items()),
    )
    parser.add_argument(
        "--max-iter",
        type=_positive_int,
        default=None,
        help="max_iter of GMVAEClustering (default: the estimator's)",
    )
    parser.add_argument(
        "--gmm-full-max-features",
        type=_positive_int,
        default=300,
        help="skip gmm-full on data sets with more features than this (default: 300)",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="limit torch, BLAS and OpenMP to this many threads (default: as "
        "many as CPUs are idle when each run starts, the rule GMVAEClustering "
        "follows itself)",
    )
    parser.add_argument(
        "--class-ratio",
        type=float,
        default=None,
        metavar="R",
        help="cluster a subset whose class sizes fall geometrically from the "
        "smallest class's size to 1/R of it (default: the whole data set)",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the PNGs")
    args = parser.parse_args(argv)
    if args.class_ratio is not None and args.class_ratio < 1:
        parser.error(f"--class-ratio must be at least 1, got {args.class_ratio}")
    return Options(
        datasets=expand_datasets(args.datasets),
        methods=list(dict.fromkeys(args.methods)),
        seeds=1 if args.quick and args.seeds is None else args.seeds,
        device=args.device,
        data_dir=args.data_dir,
        out=args.out or default_out_dir(),
        quick=args.quick,
        max_iter=args.max_iter,
        gmm_full_max_features=args.gmm_full_max_features,
        figures=not args.no_figures,
        threads=args.threads,
        class_ratio=args.class_ratio,
        argv=argv,
    )


def expand_datasets(names: Sequence[str]) -> list[str]:
    """``names`` with the groups replaced by their data sets, once each."""
    expanded = [n for name in names for n in DATASET_GROUPS.get(name, (name,))]
    return list(dict.fromkeys(expanded))


def unequal_classes(
    X: np.ndarray, y: np.ndarray, ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """A subset whose class sizes fall geometrically by ``ratio`` overall.

    Class k of K (in label order) keeps ``round(n * ratio ** (-k / (K - 1)))``
    samples, drawn without replacement with a fixed seed, where ``n`` is
    the smallest class's size; the rows keep their order.
    """
    classes, counts = np.unique(y, return_counts=True)
    rng = np.random.RandomState(0)
    keep = []
    for k, c in enumerate(classes):
        exponent = -k / max(len(classes) - 1, 1)
        n_keep = max(1, round(int(counts.min()) * ratio**exponent))
        keep.append(rng.choice(np.flatnonzero(y == c), n_keep, replace=False))
    rows = np.sort(np.concatenate(keep))
    return X[rows], y[rows]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


default_data_dir = bench_env.default_data_dir


def default_out_dir() -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return HERE / "results" / stamp


# ---------------------------------------------------------------- methods
def make_estimator(method: str, n_clusters: int, seed: int, options: Options):
    """A fresh, unfitted estimator for ``method``."""
    if method in GMVAE_PRESETS:
        params: dict[str, Any] = dict(GMVAE_PRESETS[method])
        if options.quick:
            params.update(QUICK_GMVAE)
        if options.max_iter is not None:
            params["max_iter"] = options.max_iter
        return GMVAEClustering(
            n_clusters=n_clusters, device=options.device, random_state=seed, **params
        )
    if method == "kmeans":
        return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    if method.startswith("gmm-"):
        return GaussianMixture(
            n_components=n_clusters,
            covariance_type=method.removeprefix("gmm-"),
            random_state=seed,
        )
    raise ValueError(f"Unknown method {method!r}; choose from {METHODS}.")


def methods_for(X: np.ndarray, options: Options) -> tuple[list[str], list[str]]:
    """Methods to run on ``X`` and notes on the ones skipped."""
    methods, notes = [], []
    for method in options.methods:
        if method == "gmm-full" and X.shape[1] > options.gmm_full_max_features:
            notes.append(
                f"gmm-full skipped: {X.shape[1]} features > "
                f"--gmm-full-max-features={options.gmm_full_max_features}"
            )
            continue
        methods.append(method)
    return methods, notes


def n_seeds_for(X: np.ndarray, options: Options) -> int:
    if options.seeds is not None:
        return options.seeds
    return LARGE_SEEDS if X.shape[0] > LARGE_SAMPLES else SMALL_SEEDS


# -------------------------------------------------------------------- runs
# Exit code after Ctrl-C: 128 + SIGINT, the shells' convention.
EXIT_INTERRUPTED = 130


@dataclass
class Session:
    """The runs so far and what is running now.

    ``runs.json`` is rewritten from it after every run, so that a benchmark
    that is killed or interrupted leaves the runs it finished.
    """

    options: Options
    env: dict[str, Any]
    start: float = field(default_factory=time.perf_counter)
    runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    # What is running now; named in the message when an interrupt stops it.
    stage: str = "start-up"

    def progress(self, message: str) -> None:
        """A progress line with the elapsed time, see :func:`progress`."""
        progress(self.start, message)

    def add_run(self, record: dict[str, Any]) -> None:
        """Keep a finished (or failed, or cut) run and save ``runs.json``."""
        self.runs.append(record)
        self.save("running")

    def save(self, state: str) -> None:
        """Write ``runs.json`` with ``state`` running, interrupted or done."""
        options_record = {**asdict(self.options), "gmvae_quick_params": QUICK_GMVAE}
        payload = {
            "state": state,
            "environment": self.env,
            "options": {key: _plain(value) for key, value in options_record.items()},
            "notes": self.notes,
            "runs": self.runs,
            "summary": bench_report.summarize(self.runs),
        }
        bench_report.write_json(self.options.out / "runs.json", payload)


@contextlib.contextmanager
def _threads_for_run(options: Options) -> Iterator[int]:
    """Threads for one run: ``--threads``, else the estimator's own rule.

    Without ``--threads``, torch, BLAS and OpenMP get as many threads as
    CPUs are idle when the run starts (at least one), the rule
    ``GMVAEClustering.fit`` follows itself: on a machine kept busy by
    another process, multi-threaded runs spin-wait and slow down many
    times over.
    """
    if options.threads is not None:  # already in force, from main
        yield options.threads
        return
    with bench_env.limited_threads(thread_limit(check_idle=True)) as n:
        yield n


def run_one(
    method: str, X: np.ndarray, y: np.ndarray, seed: int, options: Options
) -> tuple[dict[str, Any], Any]:
    """Fit and predict once; the measurements and the fitted model.

    Raises ``KeyboardInterrupt`` when the fit was interrupted, also when
    the estimator caught the interrupt itself and only warned about it.
    """
    n_clusters = int(np.unique(y).size)
    record: dict[str, Any] = {
        "method": method,
        "seed": seed,
        "status": "ok",
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "n_clusters": n_clusters,
        "device": "cpu",
        "error": None,
    }
    model = make_estimator(method, n_clusters, seed, options)
    cuda = method in GMVAE_PRESETS and _uses_cuda(options.device)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    bench_env.release_memory()
    with (
        warnings.catch_warnings(record=True) as caught,
        bench_env.PeakMemory() as mem,
        _threads_for_run(options) as threads,
    ):
        warnings.simplefilter("always")
        start = time.perf_counter()
        X = _fit(model, X)
        fitted = time.perf_counter()
        # GMVAEClustering.fit catches Ctrl-C, keeps the last completed epoch
        # and only warns: stop as if the interrupt had reached us, rather
        # than score and average a half-trained model. The warnings, one a
        # line, go with it into the record of the cut run.
        if _interrupted(caught):
            raise KeyboardInterrupt("\n".join(_warning_texts(caught)))
        labels = model.predict(X)
        predicted = time.perf_counter()
    record.update(
        threads=threads,
        acc=cluster_accuracy(y, labels),
        nmi=float(normalized_mutual_info_score(y, labels)),
        ari=float(adjusted_rand_score(y, labels)),
        fit_seconds=fitted - start,
        predict_seconds=predicted - fitted,
        peak_mem_mb=mem.increase_mb,
        max_rss_mb=bench_env.peak_rss_bytes() / bench_env.MIB,
        gpu_peak_mb=torch.cuda.max_memory_allocated() / bench_env.MIB if cuda else None,
        device=getattr(model, "device_", "cpu"),
        n_iter=_as_int(getattr(model, "n_iter_", None)),
        converged=getattr(model, "converged_", None),
        n_clusters_used=int(np.unique(labels).size),
        warnings=_warning_texts(caught),
    )
    return record, model


def _fit(model: Any, X: np.ndarray) -> np.ndarray:
    """Fit ``model``; the data it was fitted on, to predict with.

    A Gaussian mixture whose float32 fit fails is refitted once in float64,
    with a warning that goes into the record: on small sets with features
    that are mostly one value (glass) a float32 variance can collapse, and
    float64 is the remedy scikit-learn's error suggests. Only on failure,
    so that the runs that succeed in float32 are unchanged.
    """
    try:
        model.fit(X)
        return X
    except ValueError:
        if not isinstance(model, GaussianMixture) or X.dtype == np.float64:
            raise
    warnings.warn(
        "GaussianMixture failed in float32 (collapsed covariance); refitted "
        "in float64; the fit time includes both fits",
        UserWarning,
        stacklevel=2,
    )
    X = X.astype(np.float64)
    model.fit(X)
    return X


def _interrupted(caught: list[warnings.WarningMessage]) -> bool:
    """Whether the estimator reported a caught interrupt ("Training
    interrupted after ..." or "Warm-up interrupted during ...")."""
    return any(
        issubclass(warning.category, RuntimeWarning)
        and "nterrupted" in str(warning.message)
        for warning in caught
    )


def _uses_cuda(device: str) -> bool:
    if device == "auto":
        return torch.cuda.is_available()
    return device.startswith("cuda")


def _as_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _warning_texts(caught: list[warnings.WarningMessage]) -> list[str]:
    texts = [f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught]
    return list(dict.fromkeys(texts))


def unscored_record(
    method: str,
    seed: int,
    X: np.ndarray,
    status: str,
    error: str | None = None,
    reported: Sequence[str] = (),
) -> dict[str, Any]:
    """A run that raised (``status="failed"``, the error text kept) or that
    an interrupt cut (``"interrupted"``): no scores."""
    record = dict.fromkeys(bench_report.RUN_FIELDS)
    record.update(
        method=method,
        seed=seed,
        status=status,
        n_samples=X.shape[0],
        n_features=X.shape[1],
        device="-",
        warnings=list(reported),
        error=error,
    )
    return record


def progress(start: float, message: str) -> None:
    """A progress line with the elapsed wall time, flushed at once."""
    print(f"[{time.perf_counter() - start:8.1f} s] {message}", flush=True)


def _run_line(record: dict[str, Any]) -> str:
    line = (
        f"ACC {record['acc']:.3f}  NMI {record['nmi']:.3f}  ARI {record['ari']:.3f}  "
        f"fit {record['fit_seconds']:.2f} s  predict {record['predict_seconds']:.3f} s"
    )
    if record["warnings"]:
        line += f"  ({len(record['warnings'])} warning(s), see runs.json)"
    return line


def run_dataset(dataset: str, session: Session) -> None:
    """All methods and seeds on one data set, added to ``session``."""
    options = session.options
    session.stage = f"{dataset}: loading the data"
    X, y = load_dataset(dataset, data_dir=options.data_dir)
    if options.class_ratio is not None:
        X, y = unequal_classes(X, y, options.class_ratio)
        dataset = f"{dataset}-ratio{options.class_ratio:g}"
    session.progress(
        f"{dataset}: {X.shape[0]} x {X.shape[1]}, {np.unique(y).size} classes"
    )
    methods, notes = methods_for(X, options)
    for note in notes:
        session.progress(f"{dataset}: {note}")
        session.notes.append(f"{dataset}: {note}")
    n_seeds = n_seeds_for(X, options)
    for method in methods:
        for seed in range(n_seeds):
            model = run_seed(session, dataset, method, X, y, seed, n_seeds)
            if (
                options.figures
                and method == "gmvae"
                and seed == 0
                and model is not None
            ):
                session.stage = f"{dataset}: figures of the gmvae seed 0 model"
                session.figures += model_figures(model, X, y, dataset, options.out)


def run_seed(
    session: Session,
    dataset: str,
    method: str,
    X: np.ndarray,
    y: np.ndarray,
    seed: int,
    n_seeds: int,
) -> Any:
    """One run, added to ``session``; the fitted model, None if it raised.

    An interrupt is recorded as a cut run and raised again, to stop the
    benchmark; any other exception is recorded and the benchmark goes on.
    """
    # One numbering in every line: the seed is the random_state value, and
    # "k of n" counts the runs.
    label = f"{dataset} | {method} | seed {seed} ({seed + 1} of {n_seeds})"
    session.stage = label
    session.progress(f"{label} ...")
    try:
        record, model = run_one(method, X, y, seed, session.options)
    except KeyboardInterrupt as exc:
        reported = str(exc).splitlines()  # the estimator's warnings, if any
        record = unscored_record(method, seed, X, "interrupted", reported=reported)
        session.add_run({**record, "dataset": dataset})
        session.progress(f"{label}: INTERRUPTED, not scored")
        raise
    except Exception as exc:  # keep going; reported and exit code 1
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        record, model = unscored_record(method, seed, X, "failed", error=error), None
        session.progress(f"{label}: FAILED {error}")
    else:
        session.progress(f"{label}: {_run_line(record)}")
    session.add_run({**record, "dataset": dataset})
    return model


def model_figures(model, X: np.ndarray, y: np.ndarray, dataset: str, out: Path):
    """Sample grid (image data) and latent view of a fitted GMVAE."""
    if not bench_figures.matplotlib_available():
        return []
    names = [bench_figures.plot_latent(model, X, y, out, dataset)]
    if dataset in IMAGE_SHAPES:
        names.append(
            bench_figures.plot_samples(model, y, IMAGE_SHAPES[dataset], out, dataset)
        )
    return [name for name in names if name]


def summary_figures(runs: list[dict[str, Any]], out: Path) -> list[str]:
    names = [bench_figures.plot_scores(runs, out), bench_figures.plot_times(runs, out)]
    return [name for name in names if name]


# -------------------------------------------------------------------- main
def write_outputs(session: Session, state: str) -> str:
    """Write every output file; return the Markdown table.

    ``state`` (done or interrupted) goes into ``runs.json``; the summary,
    the table and the figures leave out failed and interrupted runs.
    """
    out = session.options.out
    summary = bench_report.summarize(session.runs)
    table = bench_report.markdown_table(summary)
    if session.options.figures:
        session.figures = summary_figures(session.runs, out) + session.figures
    session.save(state)
    bench_report.write_csv(out / "runs.csv", session.runs, bench_report.RUN_FIELDS)
    summary_fields = list(summary[0]) if summary else ["dataset", "method"]
    bench_report.write_csv(out / "summary.csv", summary, summary_fields)
    markdown = bench_report.results_markdown(
        session.env, table, session.notes, session.figures
    )
    (out / "results.md").write_text(markdown, encoding="utf-8")
    return table


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; the exit code of :func:`run_benchmark`."""
    options = parse_args(argv)
    if options.threads is None:
        return run_benchmark(options)
    with bench_env.limited_threads(options.threads):
        return run_benchmark(options)


def run_benchmark(options: Options) -> int:
    """Run every data set and method, write the outputs; the exit code.

    0 when every run succeeded, 1 when one raised, ``EXIT_INTERRUPTED``
    (130) when an interrupt (Ctrl-C) stopped the benchmark.
    """
    options.out.mkdir(parents=True, exist_ok=True)
    env = bench_env.environment_info(bench_env.command_line("run.py", options.argv))
    session = Session(options, env)
    session.progress(f"output folder: {options.out}")
    session.progress(f"CPU: {env['cpu_model']}, GPU: {env['gpu_model'] or 'none'}")
    if options.figures and not bench_figures.matplotlib_available():
        session.progress(
            "matplotlib is not installed: skipping figures "
            "(pip install 'skgmvae[bench]')"
        )
        options.figures = False
    session.save("running")
    try:
        for dataset in options.datasets:
            run_dataset(dataset, session)
    except KeyboardInterrupt:
        return stop_interrupted(session)
    table = write_outputs(session, "done")
    print("\n" + table + "\n", flush=True)
    session.progress(f"done; results in {options.out}")
    return 1 if any(run["status"] == "failed" for run in session.runs) else 0


def stop_interrupted(session: Session) -> int:
    """Write what an interrupted benchmark has; ``EXIT_INTERRUPTED``."""
    where = session.stage
    done = sum(bench_report.completed(run) for run in session.runs)
    session.notes.append(
        f"Interrupted during {where}; the runs after it were not made."
    )
    table = write_outputs(session, "interrupted")
    print("\n" + table + "\n", flush=True)
    session.progress(
        f"INTERRUPTED during {where}: stopped there, {done} completed run(s) "
        f"written to {session.options.out / 'runs.json'}"
    )
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

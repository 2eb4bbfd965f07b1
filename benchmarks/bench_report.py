"""Environment record, per-run measurements, summaries and output files.

Helpers of ``benchmarks/run.py``: nothing here fits a model.
"""

from __future__ import annotations

import csv
import ctypes
import ctypes.util
import datetime as dt
import gc
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

# Columns of runs.csv, in order; one row per (data set, method, seed).
RUN_FIELDS = (
    "dataset",
    "method",
    "seed",
    "n_samples",
    "n_features",
    "n_clusters",
    "acc",
    "nmi",
    "ari",
    "fit_seconds",
    "predict_seconds",
    "peak_mem_mb",
    "max_rss_mb",
    "gpu_peak_mb",
    "device",
    "n_iter",
    "converged",
    "n_clusters_used",
    "warnings",
    "error",
)

# Metrics summarised as mean, standard deviation and worst (min) over seeds.
SCORES = ("acc", "nmi", "ari")


# ------------------------------------------------------------- environment
def environment_info(command: str) -> dict[str, Any]:
    """Versions, hardware, thread settings, git commit, date and command."""
    import scipy
    import sklearn
    import torch

    import skgmvae

    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "skgmvae": skgmvae.__version__,
        "skgmvae_path": str(Path(skgmvae.__file__).parent),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "matplotlib": _optional_version("matplotlib"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": _usable_cpus(),
        "torch_threads": torch.get_num_threads(),
        "blas_threads": _blas_threads(),
        "thread_env": {
            key: os.environ[key]
            for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
            if key in os.environ
        },
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "gpu_model": _gpu_model(torch),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_changes": _git_changes(),
    }


def cpu_model() -> str:
    """The CPU's marketing name, from /proc/cpuinfo where available."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _optional_version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def _usable_cpus() -> int | None:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def _blas_threads() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    return [
        {
            key: pool.get(key)
            for key in ("user_api", "internal_api", "prefix", "num_threads")
        }
        for pool in threadpool_info()
    ]


def _gpu_model(torch) -> str | None:
    if not torch.cuda.is_available():
        return None
    return ", ".join(
        torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
    )


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.rstrip()


def _git_changes() -> list[str] | None:
    """Tracked files with uncommitted changes, None outside a git checkout."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    if status is None:
        return None
    return [line[3:] for line in status.splitlines() if line.strip()]


# ------------------------------------------------------------------ memory
def current_rss_bytes() -> int | None:
    """Resident set size of this process from /proc (Linux), else None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            resident_pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def release_memory() -> None:
    """Collect garbage and hand freed heap memory back to the system.

    Run before each measurement so that memory freed by earlier runs, and
    still held by the C allocator, does not hide the next run's needs.
    ``malloc_trim`` exists only in glibc; elsewhere only ``gc.collect`` runs.
    """
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def max_rss_mb() -> float:
    """Process high-water mark of resident memory (``ru_maxrss``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


class PeakMemory:
    """Peak increase of resident memory over a block, sampled in a thread.

    The resident set size is read from ``/proc/self/statm`` every
    ``interval`` seconds while the block runs; ``increase_mb`` is the
    highest reading minus the reading on entry. Short peaks between two
    readings can be missed, and memory that the allocator kept from earlier
    work is not counted again, so this is a lower bound on what the block
    needs on its own. ``None`` where ``/proc`` is unavailable.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start: int | None = None
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = current_rss_bytes()
        if self.start is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.start is not None:
            self._stop.set()
            self._thread.join()
            self._update()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._update()

    def _update(self) -> None:
        rss = current_rss_bytes()
        if rss is not None and self.peak is not None:
            self.peak = max(self.peak, rss)

    @property
    def increase_mb(self) -> float | None:
        if self.start is None or self.peak is None:
            return None
        return (self.peak - self.start) / 2**20


# ----------------------------------------------------------------- summary
def summarize(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean, standard deviation and worst value over seeds per group.

    Runs are grouped by (data set, method) in order of first appearance;
    failed runs are counted but left out of the statistics. The standard
    deviation is the sample one (``ddof=1``), 0 for a single seed.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["dataset"], run["method"]), []).append(run)
    return [_summarize_group(key, group) for key, group in groups.items()]


def _summarize_group(
    key: tuple[str, str], group: list[dict[str, Any]]
) -> dict[str, Any]:
    ok = [run for run in group if not run.get("error")]
    row: dict[str, Any] = {
        "dataset": key[0],
        "method": key[1],
        "n_seeds": len(ok),
        "n_failed": len(group) - len(ok),
        "device": ", ".join(sorted({str(run["device"]) for run in ok})) or "-",
    }
    for name in (*SCORES, "fit_seconds", "predict_seconds"):
        values = [run[name] for run in ok]
        row[f"{name}_mean"], row[f"{name}_std"] = _mean_std(values)
        row[f"{name}_min"] = min(values) if values else math.nan
        row[f"{name}_max"] = max(values) if values else math.nan
    used = [run["n_clusters_used"] for run in ok]
    row["n_clusters_used_min"] = min(used) if used else None
    row["n_clusters_used_max"] = max(used) if used else None
    memory = [run["peak_mem_mb"] for run in ok if run["peak_mem_mb"] is not None]
    row["peak_mem_mb_max"] = max(memory) if memory else None
    gpu = [run["gpu_peak_mb"] for run in ok if run["gpu_peak_mb"] is not None]
    row["gpu_peak_mb_max"] = max(gpu) if gpu else None
    return row


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    array = np.asarray(values, dtype=float)
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return float(array.mean()), std


# ----------------------------------------------------------------- tables
def markdown_table(summary: Sequence[dict[str, Any]]) -> str:
    """The summary as a Markdown table, one row per (data set, method)."""
    header = (
        "| Data set | Method | Seeds | ACC | ACC worst | NMI | NMI worst | ARI "
        "| ARI worst | Clusters used | Fit (s) | Predict (s) | Peak mem (MiB) "
        "| Device |"
    )
    align = "|" + "|".join(["---"] * 2 + ["---:"] * 11 + ["---"]) + "|"
    lines = [header, align]
    for row in summary:
        cells = [row["dataset"], row["method"], _seeds_cell(row)]
        for name in SCORES:
            cells.append(_pm(row, name, 3))
            cells.append(_num(row[f"{name}_min"], 3))
        cells.append(
            _range_cell(row["n_clusters_used_min"], row["n_clusters_used_max"])
        )
        cells.append(_pm(row, "fit_seconds", 2))
        cells.append(_pm(row, "predict_seconds", 3))
        cells.append(_memory_cell(row))
        cells.append(row["device"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _seeds_cell(row: dict[str, Any]) -> str:
    if row["n_failed"]:
        return f"{row['n_seeds']} ({row['n_failed']} failed)"
    return str(row["n_seeds"])


def _range_cell(low: int | None, high: int | None) -> str:
    if low is None:
        return "-"
    return str(low) if low == high else f"{low}–{high}"


def _memory_cell(row: dict[str, Any]) -> str:
    cell = _num(row["peak_mem_mb_max"], 1)
    if row["gpu_peak_mb_max"] is not None:
        cell += f" (GPU {row['gpu_peak_mb_max']:.0f})"
    return cell


def _num(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def _pm(row: dict[str, Any], name: str, digits: int) -> str:
    """Mean ± standard deviation, or the single value of a single seed."""
    mean, std = row[f"{name}_mean"], row[f"{name}_std"]
    if not math.isfinite(mean):
        return "-"
    if row["n_seeds"] < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def results_markdown(
    env: dict[str, Any],
    table: str,
    notes: Iterable[str],
    figures: Iterable[str],
) -> str:
    """The content of results.md: command, environment, table, notes."""
    gpu = env["gpu_model"] or "none"
    lines = [
        "# Clustering benchmark",
        "",
        f"- Date (UTC): {env['date']}",
        f"- Command: `{env['command']}`",
        f"- CPU: {env['cpu_model']} ({env['cpus_usable']} usable cores, "
        f"torch threads {env['torch_threads']}); GPU: {gpu}",
        f"- Versions: skgmvae {env['skgmvae']}, torch {env['torch']}, "
        f"scikit-learn {env['sklearn']}, numpy {env['numpy']}, "
        f"Python {env['python']}",
        f"- Git commit: {env['git_commit'] or 'unknown'}"
        + _changes_note(env["git_changes"]),
        "",
        table,
        "",
        "ACC, NMI, ARI, Fit and Predict: mean ± standard deviation over seeds; "
        "worst: the lowest value over seeds. Clusters used: the number of "
        "distinct predicted labels (lowest–highest over seeds). Peak mem: the "
        "largest increase of the process's resident memory during fit and "
        "predict, sampled (largest over seeds).",
    ]
    notes = list(notes)
    if notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    figures = list(figures)
    if figures:
        lines += ["", "Figures:", ""] + [f"- ![{name}]({name})" for name in figures]
    return "\n".join(lines) + "\n"


def _changes_note(changes: list[str] | None) -> str:
    if not changes:
        return ""
    shown = ", ".join(changes[:8]) + (", ..." if len(changes) > 8 else "")
    return f" with uncommitted changes to {shown}"


# ------------------------------------------------------------------ files
def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON; NaN becomes null."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(_json_safe(payload), handle, indent=2)
        handle.write("\n")


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {key: _json_safe(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(value) for value in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_csv(
    path: Path, rows: Sequence[dict[str, Any]], fields: Sequence[str]
) -> None:
    """Write ``rows`` with the columns ``fields``; lists are joined by ' | '."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_cell(row.get(key)) for key in fields})


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return " | ".join(str(item) for item in value)
    return "" if value is None else value


def command_line(argv: Sequence[str]) -> str:
    """How the benchmark was invoked, as a shell command."""
    return shlex.join(["python", "benchmarks/run.py", *argv])

"""Environment record, result files and memory readings shared by the
benchmark scripts.

The benchmark scripts import this module (and ``bench_report.py`` its
Markdown lines), so that every result file describes the machine and reads
resident memory the same way; ``peers.py``, ``semisupervised.py``,
``stages.py`` and ``unequal_blobs.py`` write their runs through
:class:`RunLog`. Nothing here fits a
model.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import gc
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20


def default_data_dir() -> Path | None:
    """``$SKGMVAE_DATA``, else ``../shared/data`` beside the repository."""
    if os.environ.get("SKGMVAE_DATA"):
        return Path(os.environ["SKGMVAE_DATA"])
    shared = REPO_ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else None


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


def command_line(script: str, argv: Sequence[str] | None = None) -> str:
    """How ``benchmarks/<script>`` was invoked, as a shell command.

    ``argv`` is what the script's ``main`` received; ``None`` means the real
    command line, as for ``argparse``. Written with ``python`` and the path
    from the repository root, so that it can be pasted there whatever the
    interpreter's name or the directory it was started from.
    """
    args = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", f"benchmarks/{script}", *args])


@contextlib.contextmanager
def limited_threads(n: int | None) -> Iterator[int | None]:
    """Hold torch, BLAS and OpenMP at ``n`` threads, then restore torch's.

    A ``--threads 1`` run must hold scikit-learn's baselines (k-means and
    Gaussian mixtures run on BLAS and OpenMP) as well as torch, or runs side
    by side spin-wait on each other's cores. ``None`` (no ``--threads``)
    leaves every pool as it is.
    """
    if n is None:
        yield n
        return
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield n
    finally:
        torch.set_num_threads(previous)


class RunLog:
    """What a benchmark script writes to ``<out>/<stem>.json`` and ``.md``.

    ``script`` is the file name in ``benchmarks/`` (its stem names the
    files and the default folder, ``benchmarks/results/<stem>``); ``argv``
    is what the script's ``main`` received (see :func:`command_line`).
    Every :meth:`add` prints the run and rewrites the JSON file with the
    environment and the runs so far, so an interrupted benchmark keeps what
    it measured; :meth:`finish` writes and prints the Markdown table.
    """

    def __init__(
        self, script: str, argv: Sequence[str] | None, out: str | Path | None
    ) -> None:
        self.stem = Path(script).stem
        self.out = Path(out or REPO_ROOT / "benchmarks" / "results" / self.stem)
        self.out.mkdir(parents=True, exist_ok=True)
        self.command = command_line(script, argv)
        self.env = environment_info(self.command)
        self.records: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        print(json.dumps(record), flush=True)
        text = json.dumps({"environment": self.env, "runs": self.records}, indent=1)
        (self.out / f"{self.stem}.json").write_text(text)

    def finish(self, table: str) -> None:
        (self.out / f"{self.stem}.md").write_text(
            f"Command: `{self.command}`\n\n{table}\n"
        )
        print(table)


def environment_markdown(env: dict[str, Any]) -> list[str]:
    """Markdown bullets of an ``environment_info`` record, for a report."""
    gpu = env["gpu_model"] or "none"
    return [
        f"- Date (UTC): {env['date']}",
        f"- Command: `{env['command']}`",
        f"- CPU: {env['cpu_model']} ({env['cpus_usable']} usable cores, "
        f"torch threads {env['torch_threads']}); GPU: {gpu}",
        f"- Versions: skgmvae {env['skgmvae']}, torch {env['torch']}, "
        f"scikit-learn {env['sklearn']}, numpy {env['numpy']}, "
        f"Python {env['python']}",
        f"- Git commit: {env['git_commit'] or 'unknown'}"
        + _changes_note(env["git_changes"]),
    ]


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


def _changes_note(changes: list[str] | None) -> str:
    if not changes:
        return ""
    shown = ", ".join(changes[:8]) + (", ..." if len(changes) > 8 else "")
    return f" with uncommitted changes to {shown}"


# ------------------------------------------------------------------ memory
# Readings are in bytes; each script divides by the unit its output names
# (MiB in run.py and speed.py, decimal MB in stream.py).
def peak_rss_bytes() -> int:
    """The process's high-water mark of resident memory (``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss_bytes() -> int | None:
    """Resident set size of this process from /proc (Linux), else None."""
    # statm rather than status: one short line, cheap enough to read every
    # few milliseconds from PeakMemory's thread.
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            resident_pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def rss_parts_bytes() -> dict[str, int]:
    """Resident memory in all (``VmRSS``), anonymous (``RssAnon``) and
    file-backed (``RssFile``), from /proc/self/status; empty off Linux."""
    parts = {}
    try:
        with open("/proc/self/status", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    parts[key] = int(value.split()[0]) * 1024  # given in kB
    except OSError:
        pass
    return parts


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


class PeakMemory:
    """Peak increase of resident memory over a block, sampled in a thread.

    The resident set size is read from ``/proc/self/statm`` every
    ``interval`` seconds while the block runs; ``increase_mb`` is the
    highest reading minus the reading on entry, in MiB. Short peaks between
    two readings can be missed, and memory that the allocator kept from
    earlier work is not counted again, so this is a lower bound on what the
    block needs on its own. ``None`` where ``/proc`` is unavailable.
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
        return (self.peak - self.start) / MIB

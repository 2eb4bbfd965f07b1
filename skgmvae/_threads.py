"""How many CPU threads torch may use inside ``fit``, ``predict`` and friends.

torch's intra-op thread pool is set per process (and per calling thread with
its OpenMP backend); nothing tells it that the process is one of several
workers sharing a machine. :func:`torch_threads` lowers torch's thread count
to the allotment of the worker a call runs in, and restores it afterwards.

The rule, in order:

1. Start from ``torch.get_num_threads()``. It already follows
   ``OMP_NUM_THREADS`` (read by torch at start-up: joblib's loky workers get
   ``cpu_count() // n_jobs`` this way, Dask's nanny ``1``), an explicit
   ``torch.set_num_threads`` and ``threadpoolctl.threadpool_limits``, which
   limits torch's OpenMP runtime together with the BLAS libraries.
2. Inside a task of a Dask worker, cap it at the worker's per-task allotment:
   Dask counts one core per worker thread (``nthreads``) and runs one task on
   each, so a task gets one thread, or ``OMP_NUM_THREADS`` threads where the
   worker's environment sets it (Dask's nanny sets it from the configuration
   key ``distributed.nanny.pre-spawn-environ``), never more than the
   worker's ``nthreads``.

3. In ``fit`` and ``partial_fit``, cap it at the number of CPUs that are
   idle when the call starts (on Linux, from ``/proc/stat`` sampled for a
   few hundredths of a second; elsewhere no cap). With OpenMP, a thread
   that finishes its share of an operation spins waiting for its siblings;
   when another process keeps the cores busy, a sibling is often
   descheduled, and the spinning makes a multi-threaded fit many times
   slower than a single-threaded one.

The count is only ever lowered: with no limit in force nothing is changed.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable)


def _env_threads() -> int | None:
    """``OMP_NUM_THREADS`` as a positive int, or None when unset or invalid."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    try:
        # OpenMP accepts a list ("4,2") for nested levels: the first counts.
        n = int(value.split(",")[0])
    except ValueError:
        return None
    return n if n >= 1 else None


def dask_task_threads() -> int | None:
    """Threads allotted to the Dask task running this code, else None.

    Looked up only when ``distributed`` is already imported, so the check
    costs nothing outside Dask.
    """
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    nthreads = getattr(getattr(worker, "state", worker), "nthreads", None)
    allotted = _env_threads() or 1
    if isinstance(nthreads, int) and nthreads >= 1:
        allotted = min(allotted, nthreads)
    return allotted


# How long the CPUs' idle time is sampled before a fit. /proc/stat counts in
# hundredths of a second, so a busy core shows no idle tick in 3 of them.
_SAMPLE_SECONDS = 0.03


def idle_cpus(seconds: float = _SAMPLE_SECONDS) -> float | None:
    """How many of this process's CPUs were idle over the next ``seconds``.

    Read from the idle and iowait ticks of ``/proc/stat`` (Linux); None where
    that is not available. Only CPUs this process may run on are counted.
    """
    try:
        allowed = os.sched_getaffinity(0)
        before = _idle_ticks(allowed)
        time.sleep(seconds)
        after = _idle_ticks(allowed)
    except (AttributeError, OSError, ValueError):
        return None
    total = sum(after[1].values()) - sum(before[1].values())
    if total <= 0:
        return None
    idle = sum(after[0].values()) - sum(before[0].values())
    return len(allowed) * idle / total


def _idle_ticks(cpus: set[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Idle and total ticks of each CPU in ``cpus``, from ``/proc/stat``."""
    idle, total = {}, {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            cpu = int(name[3:])
            if cpu in cpus:
                ticks = [int(value) for value in fields[:8]]
                idle[cpu] = ticks[3] + ticks[4]  # idle, iowait
                total[cpu] = sum(ticks)
    return idle, total


def thread_limit(check_idle: bool = False) -> int:
    """The number of torch threads a call should use here and now.

    With ``check_idle``, no more threads than CPUs idle right now (at least
    one): worth its sampling time for a long call such as ``fit``.
    """
    n = torch.get_num_threads()
    dask = dask_task_threads()
    if dask is not None:
        n = min(n, dask)
    if check_idle and n > 1:
        idle = idle_cpus()
        if idle is not None:
            n = min(n, max(1, round(idle)))
    return max(n, 1)


@contextmanager
def torch_threads(check_idle: bool = False) -> Iterator[int]:
    """Run the block with torch's thread count lowered to :func:`thread_limit`.

    Restores the previous count on exit, also after an exception. Yields the
    count in force inside the block.

    Examples
    --------
    >>> import torch
    >>> from skgmvae._threads import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads() as n:
    ...     n == torch.get_num_threads() <= before
    True
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    limit = thread_limit(check_idle)
    if limit >= previous:
        yield previous
        return
    torch.set_num_threads(limit)
    try:
        yield limit
    finally:
        torch.set_num_threads(previous)


def limit_torch_threads(method: F | None = None, *, check_idle: bool = False):
    """Decorator: run ``method`` inside :func:`torch_threads`.

    ``@limit_torch_threads(check_idle=True)`` also caps the threads at the
    CPUs idle when the call starts (for ``fit`` and ``partial_fit``).
    """

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            with torch_threads(check_idle):
                return method(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate if method is None else decorate(method)

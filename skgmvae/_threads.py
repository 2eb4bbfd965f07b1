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

The count is only ever lowered: with no limit in force nothing is changed.
"""

from __future__ import annotations

import functools
import os
import sys
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


def thread_limit() -> int:
    """The number of torch threads a call should use here and now."""
    n = torch.get_num_threads()
    dask = dask_task_threads()
    if dask is not None:
        n = min(n, dask)
    return max(n, 1)


@contextmanager
def torch_threads() -> Iterator[int]:
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
    limit = thread_limit()
    if limit >= previous:
        yield previous
        return
    torch.set_num_threads(limit)
    try:
        yield limit
    finally:
        torch.set_num_threads(previous)


def limit_torch_threads(method: F) -> F:
    """Decorator: run ``method`` inside :func:`torch_threads`."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with torch_threads():
            return method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]

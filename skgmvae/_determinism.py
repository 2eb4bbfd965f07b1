"""What makes a seeded fit's result independent of the number of threads.

A CPU fit runs on two kinds of thread pools: torch's (matrix products in
Intel MKL, elementwise kernels and reductions in OpenMP) and, in the
warm-up's start, those of numpy's OpenBLAS and scikit-learn's OpenMP. Each
of them may split a sum differently for a different number of threads,
which changes float32 results in the last bits; training then amplifies
those bits into different weights and, at some seeds, different clusters.

The rules that remove every dependence on the thread count found on the
CPUs tested (see *Reproducibility* in the practical guide):

1. **MKL's strict conditional numerical reproducibility.** MKL offers a mode
   (``MKL_CBWR=AUTO,STRICT``) in which ``sgemm`` gives the same bits whatever
   the number of threads. It can only be chosen before MKL's first
   computation in the process, so :func:`request_strict_mkl` runs when the
   package is imported; an ``MKL_CBWR`` set by the user is left alone.
2. **Row counts that split into whole vectors.** Even in the strict mode,
   products, and torch's elementwise kernels, treat the rows at the end of
   an uneven split between threads with other code. Mini-batches are whole
   multiples of 32 rows (:func:`skgmvae._training.batch_bounds`), and the
   graph layout pads its edge lists (:func:`skgmvae._graph.embed_graph`).
3. **The warm-up's numpy and scikit-learn steps on one thread**
   (:func:`single_threaded_numerics`, around every warm-up stage): k-means,
   PCA and the neighbour search then give the same result in a one-thread
   Dask worker and a two-thread laptop. torch's own pool is not touched.
4. **No thread-split reductions where they matter**: means over many
   samples in numpy, and the prior's mixing in the loss as a broadcast sum
   rather than a product reduced over the batch.
5. **Softmax through the log-softmax** (:func:`skgmvae._distributions.softmax`):
   torch's softmax backward depends on the thread split on AVX2 CPUs.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from threadpoolctl import ThreadpoolController

# mkl_cbwr.h: the automatic code branch, and the flag that makes ?gemm
# independent of the thread count.
_MKL_CBWR_AUTO = 2
_MKL_CBWR_STRICT = 0x10000
_MKL_CBWR_ALL = -1


@functools.cache
def _torch_mkl() -> ctypes.CDLL | None:
    """torch's CPU library, when it carries MKL's mode functions (Linux x86)."""
    if not sys.platform.startswith("linux") or not torch.backends.mkl.is_available():
        return None
    path = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        library = ctypes.CDLL(path)
        library.mkl_serv_cbwr_set.argtypes = [ctypes.c_int]
        library.mkl_serv_cbwr_get.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return library


def request_strict_mkl() -> bool:
    """Ask torch's MKL for its strict reproducible mode; whether it is on.

    Does nothing when the environment sets ``MKL_CBWR`` (the user's choice
    stands) or when torch has no MKL. MKL refuses the change once it has
    computed anything, so this only takes effect at import time in a
    process that has not yet multiplied matrices with torch.
    """
    library = _torch_mkl()
    if library is None:
        return False
    if "MKL_CBWR" not in os.environ:
        library.mkl_serv_cbwr_set(_MKL_CBWR_AUTO | _MKL_CBWR_STRICT)
    return strict_mkl()


def strict_mkl() -> bool:
    """Whether torch's MKL runs in its strict reproducible mode."""
    library = _torch_mkl()
    if library is None:
        return False
    return bool(library.mkl_serv_cbwr_get(_MKL_CBWR_ALL) & _MKL_CBWR_STRICT)


def _numeric_libraries() -> ThreadpoolController:
    """The BLAS and OpenMP libraries loaded in this process, except torch's."""
    controller = ThreadpoolController()
    torch_dir = os.path.realpath(os.path.dirname(torch.__file__))
    paths = [
        lib.filepath
        for lib in controller.lib_controllers
        if not os.path.realpath(lib.filepath).startswith(torch_dir + os.sep)
    ]
    return controller.select(filepath=paths)


@contextmanager
def single_threaded_numerics() -> Iterator[None]:
    """Run the block with numpy's BLAS and scikit-learn's OpenMP on one thread.

    The warm-up's start (k-means, PCA, the neighbour search, Gaussian
    moments) then computes the same bits whatever the machine's thread
    settings. These steps take seconds even on 70,000 samples; torch's
    thread pool, which does the heavy work, keeps its threads.
    """
    with _numeric_libraries().limit(limits=1):
        yield

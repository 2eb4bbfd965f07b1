"""Small tensor helpers shared by the estimator, the warm-up and the losses.

Conversion of validated numpy arrays to tensors, seeded generators drawn from
one ``numpy.random.RandomState``, and prediction over fixed-size row chunks.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch

# Rows per forward pass at prediction time: bounds memory (the exact
# marginalisation holds K activations per row) independently of batch_size.
PREDICT_CHUNK = 256


def as_float32_tensor(X: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 tensor on ``device``, sharing memory with ``X`` when possible."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    with warnings.catch_warnings():
        # Read-only arrays (memmaps) are never written to here.
        warnings.filterwarnings("ignore", message="The given NumPy array")
        tensor = torch.from_numpy(X)
    return tensor.to(device)


def make_generator(rng: np.random.RandomState, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded with one draw from ``rng``."""
    seed = int(rng.randint(np.iinfo(np.int32).max))
    return torch.Generator(device=device).manual_seed(seed)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s parameters."""
    return next(module.parameters()).device


def to_cpu(obj):
    """``obj`` with every tensor in it (nested dicts, lists, tuples) on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {key: to_cpu(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_cpu(value) for value in obj)
    return obj


def map_chunks(
    fn: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor
) -> torch.Tensor:
    """Apply ``fn`` to row chunks of exactly ``PREDICT_CHUNK`` rows of ``X``.

    The last chunk is padded with zero rows. Matrix-multiply kernels may
    choose a different summation order for a different number of rows, which
    changes float32 results in the last bits; with one fixed shape, a
    sample's output does not depend on which, or how many, other samples are
    predicted with it. Results are float32 on the CPU.
    """
    n_samples = X.shape[0]
    parts = []
    with torch.inference_mode():
        for start in range(0, n_samples, PREDICT_CHUNK):
            chunk = X[start : start + PREDICT_CHUNK]
            n_rows = chunk.shape[0]
            if n_rows < PREDICT_CHUNK:
                padding = chunk.new_zeros((PREDICT_CHUNK - n_rows, chunk.shape[1]))
                chunk = torch.cat([chunk, padding])
            parts.append(fn(chunk)[:n_rows].float().cpu())
    return torch.cat(parts)

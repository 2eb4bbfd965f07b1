"""Turning the estimator's ``device`` parameter into a :class:`torch.device`."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> torch.device:
    """Resolve ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises a ``ValueError`` naming the problem for strings torch does not
    understand, device types other than CPU and CUDA, and CUDA devices that
    this machine does not have, so a misconfigured fit fails before training.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"Unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from exc
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise ValueError(
            f"Unsupported device {device!r}: only 'auto', 'cpu', 'cuda' and "
            "'cuda:N' are supported."
        )
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this "
            "machine; use device='cpu' or device='auto'."
        )
    n_devices = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= n_devices:
        raise ValueError(
            f"device={device!r} was requested but this machine has only "
            f"{n_devices} CUDA device(s) (cuda:0 to cuda:{n_devices - 1})."
        )
    return resolved


def cpu_has_fast_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware.

    True with Intel's AMX (``amx_bf16``) or the AVX-512 bfloat16
    instructions (``avx512_bf16``), as the Linux kernel lists them in
    ``/proc/cpuinfo``; False elsewhere, and where the file cannot be read.
    Without them, bfloat16 products are emulated and no faster than float32.
    """
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


# Rows per mini-batch from which bfloat16 products pay on the CPU: with
# fewer (and the small networks of small data sets) the casts and the
# elementwise work outweigh the faster products.
_BFLOAT16_MIN_BATCH = 256


def resolve_precision(precision: str, device: torch.device, batch_size: int) -> str:
    """``"float32"`` or ``"bfloat16"``.

    ``"auto"`` picks bfloat16 where the hardware runs its matrix products
    fast: a CUDA GPU with bfloat16 support, or a CPU with AMX or AVX-512
    bfloat16 when the mini-batches have at least ``_BFLOAT16_MIN_BATCH``
    rows; float32 elsewhere.
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        fast = torch.cuda.is_bf16_supported()
    else:
        fast = (
            device.type == "cpu"
            and batch_size >= _BFLOAT16_MIN_BATCH
            and cpu_has_fast_bfloat16()
        )
    return "bfloat16" if fast else "float32"

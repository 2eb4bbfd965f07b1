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

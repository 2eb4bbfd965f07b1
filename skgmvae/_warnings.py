"""Warnings that point at the user's line, not at the package's internals.

A warning raised deep inside ``fit`` (in the training loop, the warm-up or a
decorator) would otherwise be reported at that internal line, or at a fixed
number of frames up, which is right for one call path only. :func:`warn`
instead attributes it to the first frame outside skgmvae and scikit-learn,
whose wrappers (``fit_transform``, parameter validation) sit between the
user's call and ours.
"""

from __future__ import annotations

import os
import sys
import warnings

import sklearn

_INTERNAL = tuple(
    os.path.dirname(os.path.abspath(path)) + os.sep
    for path in (__file__, sklearn.__file__)
)


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` at the first calling frame outside skgmvae and sklearn."""
    frame = sys._getframe(1)
    level = 2  # stacklevel 2 is warn's caller
    while frame.f_back is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def _is_internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_INTERNAL)

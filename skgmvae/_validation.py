"""Checks that keep non-finite numbers out of training and out of results.

The network computes in float32. Input values that float32 cannot hold, or
whose squares overflow it in the Gaussian log-density, are rejected before
training with a ``ValueError``; a loss, weight or output that is NaN or
infinite all the same raises :class:`NonFiniteError`, a ``ValueError`` that
is also a ``FloatingPointError``, instead of turning into labels.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.utils._param_validation import InvalidParameterError

# Largest magnitude accepted in X. The Gaussian log-density sums
# (x - mean)^2 / variance over the features, with the variance floored at
# 1e-3: at 1e15 the term of one feature is about 1e33, so the sum stays
# finite in float32 (max ~3.4e38) for up to about 10^4 features. Data at
# such scales must be standardized anyway to train well.
MAX_ABS_VALUE = 1e15


class NonFiniteError(ValueError, FloatingPointError):
    """A loss, weight or model output became NaN or infinite.

    A ``ValueError`` (like scikit-learn's errors about bad input) and a
    ``FloatingPointError`` (what went wrong numerically).
    """


def check_magnitude(X: np.ndarray) -> None:
    """Raise a ``ValueError`` when ``X`` holds values beyond ``MAX_ABS_VALUE``.

    Examples
    --------
    >>> import numpy as np
    >>> from skgmvae._validation import check_magnitude
    >>> check_magnitude(np.array([[1.0, -2.0]]))
    >>> check_magnitude(np.array([[1e30, 0.0]]))
    Traceback (most recent call last):
        ...
    ValueError: X contains values of magnitude up to 1e+30, ...
    """
    if X.size == 0:
        return
    # max and min instead of abs(X).max(): no temporary copy of X.
    largest = float(max(X.max(), -X.min()))
    if largest > MAX_ABS_VALUE:
        raise ValueError(
            f"X contains values of magnitude up to {largest:.4g}, beyond the "
            f"{MAX_ABS_VALUE:.0e} that GMVAEClustering accepts: the network "
            "computes in float32, where the log-likelihood of such values "
            "overflows. Standardize X (sklearn.preprocessing.StandardScaler) "
            "or rescale it."
        )


def check_finite_output(values: torch.Tensor, what: str) -> torch.Tensor:
    """Return ``values``, or raise :class:`NonFiniteError` if any is not finite."""
    if not bool(torch.isfinite(values).all()):
        raise NonFiniteError(
            f"The model's {what} is NaN or infinite for some samples. Its weights "
            "are not finite (a diverged or corrupted model: refit it), or X holds "
            "values too extreme for its float32 arithmetic: unscaled, or far "
            "outside the range it was fitted on. Standardize X, and apply the "
            "same scaling at fit and predict time."
        )
    return values


# Values this close outside [0, 1] count as inside (and are clipped): a
# scaler's rounding (a maximum of 1.0000000000000004) must not change the
# likelihood that likelihood="auto" picks, nor make the Bernoulli one fail.
UNIT_TOLERANCE = 1e-6
# At prediction and scoring time, values up to this far outside [0, 1] are
# clipped: new data scaled with the training data's MinMaxScaler fall
# somewhat outside the training range. Farther values were not scaled like
# the training data (raw pixels, say) and are rejected.
PREDICT_MARGIN = 1.0


def in_unit_interval(X: np.ndarray, tolerance: float = UNIT_TOLERANCE) -> bool:
    """Whether every value of ``X`` lies in [0, 1], up to ``tolerance``."""
    return bool(X.min() >= -tolerance and X.max() <= 1.0 + tolerance)


def check_unit_interval(
    X: np.ndarray, *, what: str, remedy: str, margin: float = UNIT_TOLERANCE
) -> np.ndarray:
    """``X`` clipped to [0, 1], as the Bernoulli likelihood needs.

    Values more than ``margin`` outside [0, 1] raise a ``ValueError`` that
    names the range ``what`` (the data or a chunk of it) covers, then the
    ``remedy``. ``X`` is copied only when it needs clipping.
    """
    low, high = X.min(), X.max()
    if low < -margin or high > 1.0 + margin:
        raise ValueError(
            "The Bernoulli likelihood (likelihood='bernoulli') needs every value "
            f"of X in [0, 1], but {what} ranges over [{_show(low)}, "
            f"{_show(high)}]. {remedy}"
        )
    if low < 0.0 or high > 1.0:
        X = np.clip(X, 0.0, 1.0)
    return X


def training_likelihood(
    X: np.ndarray, requested: str, fitted: str | None, *, chunk: bool = False
) -> tuple[str, np.ndarray]:
    """The likelihood to train with on ``X``, and ``X`` as it will be used.

    ``requested`` is the ``likelihood`` parameter (``"auto"`` picks Bernoulli
    for data in [0, 1]); ``fitted`` the likelihood of the model that
    training continues, or None for a new model. A later ``partial_fit``
    chunk (``chunk`` with a fitted model) keeps the model's; ``fit`` with
    ``warm_start`` must agree with it. For the Bernoulli likelihood, ``X``
    is checked and clipped to [0, 1].
    """
    if chunk and fitted is not None:
        likelihood = fitted
        remedy = "Scale every chunk the same way, or set likelihood='gaussian' "
        remedy += "before the first call."
    else:
        likelihood = requested
        if likelihood == "auto":
            likelihood = "bernoulli" if in_unit_interval(X) else "gaussian"
        remedy = "Scale X with sklearn.preprocessing.MinMaxScaler, or use "
        remedy += "likelihood='gaussian'."
        if fitted is not None and likelihood != fitted:
            raise ValueError(
                f"warm_start=True continues a model fitted with the {fitted!r} "
                f"likelihood, but this X implies {likelihood!r}."
            )
    if likelihood == "bernoulli":
        what = "this chunk" if chunk else "X"
        X = check_unit_interval(X, what=what, remedy=remedy)
    return likelihood, X


def _show(value: float) -> str:
    """``value`` with 4 significant digits, or all of them where 4 would make
    a value outside [0, 1] look inside it."""
    short = f"{value:.4g}"
    if (value < 0.0 or value > 1.0) and 0.0 <= float(short) <= 1.0:
        return repr(float(value))
    return short


def check_hidden_layer_sizes(value) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of ints, or an InvalidParameterError."""
    sizes = np.ravel(np.asarray(value, dtype=object))
    if sizes.size == 0 or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
    ):
        raise InvalidParameterError(
            "The 'hidden_layer_sizes' parameter of GMVAEClustering must be a "
            f"non-empty sequence of positive integers. Got {value!r} instead."
        )
    return tuple(int(s) for s in sizes)

"""Loaders for the data sets used to benchmark clustering.

Every loader returns ``(X, y)``: ``X`` a float32 array of shape
``(n_samples, n_features)`` ready to cluster, ``y`` the int64 ground-truth
classes, used only for evaluation.

- Image sets (``digits``, ``mnist``, ``fashion_mnist``, ``usps``) are scaled
  to [0, 1], which suits the Bernoulli likelihood of
  :class:`~skgmvae.GMVAEClustering`.
- Tabular sets (``wine``, ``breast_cancer``, ``iris``, ``glass``,
  ``ionosphere``, ``sonar``) and the synthetic ``blobs_imbalanced`` sets are
  standardized to zero mean and unit variance per feature, which suits the
  Gaussian likelihood.

``digits``, ``wine``, ``breast_cancer`` and ``iris`` ship with scikit-learn,
and the ``blobs_imbalanced`` sets are generated with a fixed seed. The
larger image sets are read from a local folder when one is available, and
otherwise downloaded from OpenML with
:func:`sklearn.datasets.fetch_openml`. ``glass``, ``ionosphere`` and
``sonar`` are read from a local folder only.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.datasets import (
    fetch_openml,
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
)
from sklearn.preprocessing import StandardScaler

__all__ = [
    "DATASETS",
    "IMAGE_SHAPES",
    "available_datasets",
    "load_dataset",
    "read_idx",
]

#: Name of the environment variable naming the default local data folder.
DATA_ENV_VAR = "SKGMVAE_DATA"

#: Names accepted by :func:`load_dataset`.
DATASETS: tuple[str, ...] = (
    "digits",
    "mnist",
    "fashion_mnist",
    "usps",
    "wine",
    "breast_cancer",
    "iris",
    "glass",
    "ionosphere",
    "sonar",
    "blobs_imbalanced",
    "blobs_imbalanced_20d",
)

#: Height and width of the image data sets, to reshape a row into an image.
IMAGE_SHAPES: dict[str, tuple[int, int]] = {
    "digits": (8, 8),
    "mnist": (28, 28),
    "fashion_mnist": (28, 28),
    "usps": (16, 16),
}

# Data sets read from a local folder or OpenML: OpenML name and version.
_OPENML = {
    "mnist": ("mnist_784", 1),
    "fashion_mnist": ("Fashion-MNIST", 1),
    "usps": ("usps", 1),
}

# Tabular sets read only from a local folder, standardized like wine. No
# download: OpenML's copies of these UCI sets are not known to hold the same
# rows, in the same order and with the same labels, as the files described.
_LOCAL_TABULAR = {
    "glass": "UCI's Glass Identification, from the R package mlbench",
    "ionosphere": "UCI's Ionosphere, from the R package mlbench",
    "sonar": "UCI's Sonar, Mines vs. Rocks, from the R package mlbench",
}

# Canonical IDX files of MNIST and Fashion-MNIST (training split first).
_IDX_FILES = (
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
)

# IDX type codes (third byte of the magic number) and big-endian dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`.

    Returns
    -------
    names : list of str
        The data set names, in the order of :data:`DATASETS`.

    Examples
    --------
    >>> from skgmvae.datasets import available_datasets
    >>> "digits" in available_datasets()
    True
    """
    return list(DATASETS)


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set as ``(X, y)`` arrays ready for clustering.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`:

        - ``"digits"``: scikit-learn's 8x8 handwritten digits (1,797 x 64),
          divided by 16.
        - ``"mnist"``, ``"fashion_mnist"``: 70,000 x 784 images (training
          then test split), divided by 255.
        - ``"usps"``: 9,298 x 256 handwritten digits, min-max scaled to
          [0, 1].
        - ``"wine"`` (178 x 13, 3 classes), ``"breast_cancer"`` (569 x 30,
          2 classes) and ``"iris"`` (150 x 4, 3 classes), bundled with
          scikit-learn: standardized with
          :class:`~sklearn.preprocessing.StandardScaler`.
        - ``"glass"`` (214 x 9, 6 classes), ``"ionosphere"`` (351 x 34,
          2 classes) and ``"sonar"`` (208 x 60, 2 classes): the UCI Machine
          Learning Repository sets Glass Identification (B. German),
          Ionosphere (V. Sigillito) and Sonar, Mines vs. Rocks (Gorman and
          Sejnowski), as packaged in the R package mlbench (Leisch and
          Dimitriadou). Read from ``<data_dir>/<name>.npz`` only (never
          downloaded), then standardized like ``"wine"``; a constant column
          (ionosphere's second, ``V2``) becomes zeros.
        - ``"blobs_imbalanced"`` (1,030 x 2, 3 classes): Gaussian blobs of
          1,000, 20 and 10 samples, from
          :func:`~sklearn.datasets.make_blobs` with centres (0, 0),
          (10, 10) and (-10, 10) and ``random_state=0``, standardized.
        - ``"blobs_imbalanced_20d"`` (2,770 x 20, 5 classes): blobs of
          2,000, 500, 200, 50 and 20 samples (100:1), unit standard
          deviation, centres drawn uniformly in ``(-10, 10)`` per feature
          with ``random_state=0``, standardized.

        The blobs are far apart (k-means with ``n_init=10`` recovers them
        exactly), but their clusters have very unequal sizes, which a
        model with a uniform prior over clusters (or a term pulling the
        cluster sizes towards equal) handles badly: it tends to split the
        large cluster and merge the small ones. They are generated anew at
        each call, always identical.

    data_dir : str or path-like, default=None
        Folder holding local copies of ``mnist``, ``fashion_mnist``,
        ``usps``, ``glass``, ``ionosphere`` and ``sonar``. Defaults to the
        environment variable ``SKGMVAE_DATA``.
        For a data set ``<name>`` the folder is searched for

        - ``<name>.npz``, holding an array ``X`` of shape
          ``(n_samples, n_features)`` (or ``(n_samples, height, width)``)
          and an array ``y`` of shape ``(n_samples,)``, as written by
          :func:`numpy.savez_compressed`;
        - for ``mnist`` and ``fashion_mnist``, the four canonical IDX files
          (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
          ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``,
          gzipped or not) in the subfolder ``<name>/``.

        Ignored for the data sets bundled with scikit-learn and the blobs.

    download : bool, default=True
        When no local copy is found, download the data from OpenML with
        :func:`sklearn.datasets.fetch_openml` (cached in scikit-learn's data
        home). When False, a missing local copy raises an error instead.
        ``glass``, ``ionosphere`` and ``sonar`` are never downloaded.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float32
        The features.

    y : ndarray of shape (n_samples,), dtype int64
        The ground-truth classes.

    Raises
    ------
    ValueError
        If ``name`` is not a known data set, or a local file is malformed.
    FileNotFoundError
        If no local copy is found and downloading is disabled or fails; the
        message lists the paths searched and how to provide the data.

    Examples
    --------
    >>> from skgmvae.datasets import load_dataset
    >>> X, y = load_dataset("digits")
    >>> X.shape, X.dtype, float(X.min()), float(X.max())
    ((1797, 64), dtype('float32'), 0.0, 1.0)
    >>> X, y = load_dataset("wine")
    >>> X.shape, len(set(y))
    ((178, 13), 3)
    >>> import numpy as np
    >>> X, y = load_dataset("blobs_imbalanced")
    >>> X.shape, np.bincount(y).tolist()
    ((1030, 2), [1000, 20, 10])
    """
    if name not in DATASETS:
        raise ValueError(
            f"Unknown data set {name!r}; available: {', '.join(DATASETS)}."
        )
    if name in _BUNDLED:
        return _BUNDLED[name]()
    X, y = _load_external(name, data_dir, download)
    if name in _LOCAL_TABULAR:
        return _standardize(X, y)
    return _scale_images(name, X), y


# ----------------------------------------------------------- bundled sets
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def _standardize(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean, unit variance per feature; float32 X, int64 y.

    StandardScaler leaves the scale of a constant feature at 1, so such a
    feature becomes zeros rather than NaN.
    """
    X = StandardScaler().fit_transform(np.asarray(X, dtype=np.float64))
    return X.astype(np.float32), np.asarray(y).astype(np.int64)


def _standardized(loader: Callable) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def load() -> tuple[np.ndarray, np.ndarray]:
        return _standardize(*loader(return_X_y=True))

    return load


def _blobs(**params: object) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    # A fixed random_state makes every call return the same data set.
    def load() -> tuple[np.ndarray, np.ndarray]:
        return _standardize(*make_blobs(random_state=0, **params))

    return load


_BUNDLED: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "digits": _load_digits,
    "wine": _standardized(load_wine),
    "breast_cancer": _standardized(load_breast_cancer),
    "iris": _standardized(load_iris),
    "blobs_imbalanced": _blobs(
        n_samples=[1000, 20, 10], centers=[[0, 0], [10, 10], [-10, 10]]
    ),
    # Checked: k-means (n_init=10) recovers these clusters exactly (ARI 1.0),
    # whatever the seed; a Gaussian mixture (n_init=1) does with
    # random_state=0 but merges two clusters (ARI 0.5) with some seeds: its
    # single k-means start, not the spread of the centres (closest pair 27
    # standard deviations apart), is what fails.
    "blobs_imbalanced_20d": _blobs(
        n_samples=[2000, 500, 200, 50, 20],
        n_features=20,
        center_box=(-10, 10),
        cluster_std=1.0,
    ),
}


# ---------------------------------------------------------- external sets
def _resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    if data_dir is None:
        data_dir = os.environ.get(DATA_ENV_VAR) or None
    return None if data_dir is None else Path(data_dir).expanduser()


def _load_external(
    name: str, data_dir: str | os.PathLike | None, download: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Local npz, then local IDX files, then OpenML."""
    folder = _resolve_data_dir(data_dir)
    searched: list[str] = []
    if folder is not None:
        npz_path = folder / f"{name}.npz"
        searched.append(str(npz_path))
        if npz_path.is_file():
            return _read_npz(npz_path)
        if name in ("mnist", "fashion_mnist"):
            idx_folder = folder / name
            searched.append(str(idx_folder / "{train,t10k}-*-idx?-ubyte[.gz]"))
            found = _read_idx_folder(idx_folder)
            if found is not None:
                return found
    reason, cause = "downloading was disabled (download=False)", None
    if name in _LOCAL_TABULAR:
        reason = "it is not downloaded (no OpenML copy known to match it)"
    elif download:
        try:
            return _fetch_openml(name)
        except Exception as exc:  # no network, OpenML down, bad cache...
            reason = f"downloading from OpenML failed ({type(exc).__name__}: {exc})"
            cause = exc
    raise FileNotFoundError(_missing_message(name, folder, searched, reason)) from cause


def _missing_message(
    name: str, folder: Path | None, searched: list[str], reason: str
) -> str:
    if folder is None:
        where = f"no local folder was given (data_dir=None and ${DATA_ENV_VAR} unset)"
    else:
        where = "looked for " + " and ".join(searched)
    message = (
        f"Could not load the {name!r} data set: {where}, and {reason}. "
        f"Provide it by saving arrays X (n_samples, n_features) and y "
        f"(n_samples,) with numpy.savez_compressed as '{name}.npz' in a folder"
        + (
            f" (or the four canonical IDX .gz files in a subfolder '{name}/')"
            if name in ("mnist", "fashion_mnist")
            else ""
        )
        + f", then pass data_dir=<folder> or set ${DATA_ENV_VAR}=<folder>"
    )
    if name in _LOCAL_TABULAR:
        return f"{message}. The data: {_LOCAL_TABULAR[name]}."
    openml_name, version = _OPENML[name]
    return (
        f"{message}; or run once with network access to download OpenML's "
        f"{openml_name!r} (version {version})."
    )


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        missing = {"X", "y"} - set(data.files)
        if missing:
            raise ValueError(
                f"{path} must hold arrays 'X' and 'y'; missing {sorted(missing)} "
                f"(found {sorted(data.files)})."
            )
        X, y = data["X"], data["y"]
    return _check_pair(X, y, str(path))


def _check_pair(X: np.ndarray, y: np.ndarray, source: str):
    if X.ndim < 2:
        raise ValueError(f"X from {source} must be at least 2-D, got shape {X.shape}.")
    X = X.reshape(X.shape[0], -1)
    y = np.asarray(y).ravel()
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y from {source} differ in length: {X.shape[0]} != {y.shape[0]}."
        )
    return X, _as_int_labels(y)


def _as_int_labels(y: np.ndarray) -> np.ndarray:
    """int64 labels; numeric strings are parsed, other labels are encoded."""
    try:
        return y.astype(np.int64)
    except (TypeError, ValueError):
        return np.unique(y, return_inverse=True)[1].astype(np.int64)


def _find_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _read_idx_folder(folder: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Training then test split from the four IDX files, None if incomplete."""
    if not folder.is_dir():
        return None
    paths = [[_find_file(folder, stem) for stem in pair] for pair in _IDX_FILES]
    if any(path is None for pair in paths for path in pair):
        return None
    X = np.concatenate([read_idx(images) for images, _ in paths])
    y = np.concatenate([read_idx(labels) for _, labels in paths])
    return _check_pair(X, y, str(folder))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an array stored in the IDX format of MNIST, gzipped or not.

    Parameters
    ----------
    path : str or path-like
        An IDX file; a name ending in ``.gz`` is decompressed with gzip.

    Returns
    -------
    array : ndarray
        The array, in native byte order, with the shape stored in the file
        (for example ``(60000, 28, 28)`` uint8 for MNIST's training images).

    Raises
    ------
    ValueError
        If the header is invalid or the file size does not match it.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number).")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: header of {ndim} dimensions.")
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) != header + count * dtype.itemsize:
        raise ValueError(
            f"{path} holds {len(raw) - header} data bytes, but its header "
            f"announces shape {shape} of {dtype.itemsize}-byte values."
        )
    data = np.frombuffer(raw, dtype, count, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _fetch_openml(name: str) -> tuple[np.ndarray, np.ndarray]:
    openml_name, version = _OPENML[name]
    X, y = fetch_openml(openml_name, version=version, return_X_y=True, as_frame=False)
    X, y = _check_pair(np.asarray(X), np.asarray(y), f"OpenML {openml_name!r}")
    if name == "usps":
        y = y - 1  # OpenML codes the digits 0-9 as the classes 1-10
    return X, y


def _scale_images(name: str, X: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]: MNIST-like sets by 255, USPS by its own range."""
    X = X.astype(np.float32, copy=False)
    if name == "usps":
        low, high = float(X.min()), float(X.max())
        return (X - low) / np.float32(high - low) if high > low else X - low
    if X.min() < 0 or X.max() > 255:
        raise ValueError(
            f"{name} pixels must lie in [0, 255], got [{X.min()}, {X.max()}]."
        )
    return X / np.float32(255.0)

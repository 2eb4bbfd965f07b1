"""Tests of skgmvae.datasets; none needs a network connection."""

import gzip
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

from skgmvae import datasets
from skgmvae.datasets import (
    DATASETS,
    IMAGE_SHAPES,
    available_datasets,
    load_dataset,
    read_idx,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def no_env_data_dir(monkeypatch):
    """Tests start without SKGMVAE_DATA, whatever the caller's environment."""
    monkeypatch.delenv("SKGMVAE_DATA", raising=False)


@pytest.fixture
def no_download(monkeypatch):
    """Make any OpenML download fail as it does without network."""

    def offline(*args, **kwargs):
        raise URLError("network is unreachable")

    monkeypatch.setattr(datasets, "fetch_openml", offline)


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """Write ``array`` in the IDX format (big-endian), like MNIST's files."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    kind = array.dtype.str[1:]
    header = bytes([0, 0, codes[kind], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


# ------------------------------------------------------------------ names
def test_available_datasets_lists_every_name():
    assert available_datasets() == list(DATASETS)
    assert {"digits", "mnist", "fashion_mnist", "usps", "wine"} <= set(DATASETS)
    assert set(IMAGE_SHAPES) <= set(DATASETS)


def test_unknown_name_lists_available_names():
    with pytest.raises(ValueError, match="Unknown data set 'mnistt'.*digits.*wine"):
        load_dataset("mnistt")


# ---------------------------------------------------------- bundled sets
def test_digits_scaled_to_unit_interval():
    X, y = load_dataset("digits")
    assert X.shape == (1797, 64)
    assert X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.dtype == np.int64
    assert np.array_equal(np.unique(y), np.arange(10))


@pytest.mark.parametrize(
    "name, shape, n_classes", [("wine", (178, 13), 3), ("breast_cancer", (569, 30), 2)]
)
def test_tabular_sets_are_standardized(name, shape, n_classes):
    X, y = load_dataset(name)
    assert X.shape == shape
    assert X.dtype == np.float32
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(X.std(axis=0), 1.0, atol=1e-4)
    assert X.min() < 0.0  # not in [0, 1]: GMVAEClustering picks a Gaussian
    assert np.unique(y).size == n_classes


def test_bundled_sets_ignore_data_dir(tmp_path):
    X, _ = load_dataset("digits", data_dir=tmp_path / "does-not-exist")
    assert X.shape == (1797, 64)


# ------------------------------------------------- local tabular and blobs
LOCAL_TABULAR = ["glass", "ionosphere", "sonar"]
BLOBS = ["blobs_imbalanced", "blobs_imbalanced_20d"]


def test_new_names_are_listed():
    assert {"iris", *LOCAL_TABULAR, *BLOBS} <= set(available_datasets())


def test_iris_is_standardized():
    X, y = load_dataset("iris")
    assert X.shape == (150, 4) and X.dtype == np.float32
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(X.std(axis=0), 1.0, atol=1e-4)
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [50, 50, 50]


@pytest.mark.parametrize("name", LOCAL_TABULAR)
def test_local_tabular_npz_is_standardized(tmp_path, name):
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 3.0, size=(40, 6))
    X[:, 1] = 0.0  # constant, as the second column (V2) of ionosphere
    y = np.arange(40, dtype=np.int64) % 3
    np.savez_compressed(tmp_path / f"{name}.npz", X=X, y=y)

    X_loaded, y_loaded = load_dataset(name, data_dir=tmp_path, download=False)

    assert X_loaded.shape == (40, 6) and X_loaded.dtype == np.float32
    assert not np.isnan(X_loaded).any()
    assert np.all(X_loaded[:, 1] == 0.0)  # zeros, not NaN
    varying = np.delete(X_loaded, 1, axis=1)
    np.testing.assert_allclose(varying.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(varying.std(axis=0), 1.0, atol=1e-4)
    assert y_loaded.dtype == np.int64 and np.array_equal(y_loaded, y)


def test_local_tabular_found_through_environment_variable(tmp_path, monkeypatch):
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    np.savez_compressed(tmp_path / "sonar.npz", X=X, y=np.array([0, 1] * 3))
    monkeypatch.setenv("SKGMVAE_DATA", str(tmp_path))
    X_loaded, _ = load_dataset("sonar", download=False)
    np.testing.assert_allclose(X_loaded.mean(axis=0), 0.0, atol=1e-6)


@pytest.mark.parametrize("download", [False, True])
def test_missing_local_tabular_file_names_the_path(tmp_path, download, no_download):
    # Never downloaded: the same error, whether or not download is allowed.
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("glass", data_dir=tmp_path, download=download)
    message = str(info.value)
    assert str(tmp_path / "glass.npz") in message
    assert "SKGMVAE_DATA" in message and "mlbench" in message
    assert "OpenML's" not in message


def test_missing_local_tabular_without_folder(monkeypatch):
    monkeypatch.delenv("SKGMVAE_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="SKGMVAE_DATA unset"):
        load_dataset("ionosphere")


@pytest.mark.parametrize(
    "name, sizes, n_features",
    [
        ("blobs_imbalanced", [1000, 20, 10], 2),
        ("blobs_imbalanced_20d", [2000, 500, 200, 50, 20], 20),
    ],
)
def test_blobs_sizes_and_standardization(name, sizes, n_features):
    X, y = load_dataset(name)
    assert X.shape == (sum(sizes), n_features) and X.dtype == np.float32
    assert y.dtype == np.int64 and np.bincount(y).tolist() == sizes
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(X.std(axis=0), 1.0, atol=1e-4)


@pytest.mark.parametrize("name", BLOBS)
def test_blobs_are_the_same_at_every_call(tmp_path, name):
    X1, y1 = load_dataset(name)
    X2, y2 = load_dataset(name, data_dir=tmp_path, download=False)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)


@pytest.mark.parametrize(
    "name, shape, counts",
    [
        ("glass", (214, 9), [70, 76, 17, 13, 9, 29]),
        ("ionosphere", (351, 34), None),
        ("sonar", (208, 60), None),
    ],
)
def test_real_tabular_sets_from_shared_folder(name, shape, counts):
    if not (SHARED_DATA / f"{name}.npz").is_file():
        pytest.skip(f"no local copy of {name}")
    X, y = load_dataset(name, data_dir=SHARED_DATA, download=False)
    assert X.shape == shape and X.dtype == np.float32
    assert not np.isnan(X).any()
    if counts is not None:  # the README's class counts
        assert np.bincount(y).tolist() == counts
    else:
        assert np.unique(y).size == 2
    if name == "ionosphere":  # its constant second column (V2) becomes zeros
        assert np.all(X[:, 1] == 0.0)


# ------------------------------------------------------------- local npz
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_local_npz_is_divided_by_255(tmp_path, name):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(20, 784), dtype=np.uint8)
    X[0, 0], X[0, 1] = 0, 255
    y = rng.integers(0, 10, size=20).astype(np.int64)
    np.savez_compressed(tmp_path / f"{name}.npz", X=X, y=y)

    X_loaded, y_loaded = load_dataset(name, data_dir=tmp_path, download=False)

    assert X_loaded.dtype == np.float32
    assert X_loaded.shape == (20, 784)
    np.testing.assert_allclose(X_loaded, X / 255.0, rtol=1e-6)
    assert X_loaded.min() == 0.0 and X_loaded.max() == 1.0
    assert y_loaded.dtype == np.int64
    assert np.array_equal(y_loaded, y)


def test_local_npz_found_through_environment_variable(tmp_path, monkeypatch):
    X = np.full((3, 784), 51, dtype=np.uint8)
    np.savez_compressed(tmp_path / "mnist.npz", X=X, y=np.array([1, 2, 3]))
    monkeypatch.setenv("SKGMVAE_DATA", str(tmp_path))

    X_loaded, y_loaded = load_dataset("mnist", download=False)

    np.testing.assert_allclose(X_loaded, 0.2)
    assert y_loaded.tolist() == [1, 2, 3]


def test_explicit_data_dir_overrides_environment_variable(tmp_path, monkeypatch):
    for folder, value in (("env", 0), ("arg", 255)):
        (tmp_path / folder).mkdir()
        X = np.full((2, 784), value, dtype=np.uint8)
        np.savez_compressed(tmp_path / folder / "mnist.npz", X=X, y=np.zeros(2))
    monkeypatch.setenv("SKGMVAE_DATA", str(tmp_path / "env"))

    X_loaded, _ = load_dataset("mnist", data_dir=tmp_path / "arg", download=False)

    assert X_loaded.min() == 1.0


def test_local_npz_with_image_arrays_is_flattened(tmp_path):
    X = np.zeros((4, 28, 28), dtype=np.uint8)
    np.savez_compressed(tmp_path / "mnist.npz", X=X, y=np.arange(4))
    X_loaded, _ = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert X_loaded.shape == (4, 784)


def test_usps_npz_is_min_max_scaled(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, size=(30, 256))
    X[0, 0], X[0, 1] = -1.0, 1.0
    np.savez_compressed(tmp_path / "usps.npz", X=X, y=np.arange(30) % 10)

    X_loaded, y_loaded = load_dataset("usps", data_dir=tmp_path, download=False)

    assert X_loaded.dtype == np.float32
    assert X_loaded.min() == 0.0 and X_loaded.max() == 1.0
    np.testing.assert_allclose(X_loaded, (X + 1.0) / 2.0, atol=1e-6)
    assert np.array_equal(y_loaded, np.arange(30) % 10)


def test_npz_without_required_arrays_raises(tmp_path):
    np.savez_compressed(tmp_path / "mnist.npz", data=np.zeros((2, 784)))
    with pytest.raises(ValueError, match="'X' and 'y'"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_npz_with_mismatched_lengths_raises(tmp_path):
    np.savez_compressed(
        tmp_path / "mnist.npz", X=np.zeros((3, 784), np.uint8), y=np.zeros(2)
    )
    with pytest.raises(ValueError, match="differ in length"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_npz_with_out_of_range_pixels_raises(tmp_path):
    X = np.full((2, 784), 300.0)
    np.savez_compressed(tmp_path / "mnist.npz", X=X, y=np.zeros(2))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


# ------------------------------------------------------------------- IDX
@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_are_concatenated_train_then_test(tmp_path, compress):
    rng = np.random.default_rng(1)
    folder = tmp_path / "fashion_mnist"
    folder.mkdir()
    train_X = rng.integers(0, 256, size=(5, 4, 4), dtype=np.uint8)
    test_X = rng.integers(0, 256, size=(2, 4, 4), dtype=np.uint8)
    train_y = np.array([0, 1, 2, 3, 4], dtype=np.uint8)
    test_y = np.array([9, 8], dtype=np.uint8)
    write_idx(folder / "train-images-idx3-ubyte", train_X, compress)
    write_idx(folder / "train-labels-idx1-ubyte", train_y, compress)
    write_idx(folder / "t10k-images-idx3-ubyte", test_X, compress)
    write_idx(folder / "t10k-labels-idx1-ubyte", test_y, compress)

    X, y = load_dataset("fashion_mnist", data_dir=tmp_path, download=False)

    expected = np.concatenate([train_X, test_X]).reshape(7, 16) / 255.0
    np.testing.assert_allclose(X, expected, rtol=1e-6)
    assert X.dtype == np.float32
    assert y.tolist() == [0, 1, 2, 3, 4, 9, 8]
    assert y.dtype == np.int64


def test_npz_takes_precedence_over_idx_files(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for stem, shape in [("images-idx3", (1, 2, 2)), ("labels-idx1", (1,))]:
        for split in ("train", "t10k"):
            write_idx(folder / f"{split}-{stem}-ubyte", np.zeros(shape, np.uint8))
    np.savez_compressed(
        tmp_path / "mnist.npz", X=np.zeros((3, 784), np.uint8), y=np.zeros(3)
    )
    X, _ = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert X.shape == (3, 784)


@pytest.mark.parametrize("dtype", [">i4", ">f4", ">f8", "i1", ">i2"])
def test_read_idx_other_types(tmp_path, dtype):
    array = np.arange(-6, 6).reshape(3, 4).astype(dtype)
    write_idx(tmp_path / "data", array)
    result = read_idx(tmp_path / "data.gz")
    assert result.shape == (3, 4)
    assert result.dtype.isnative
    np.testing.assert_array_equal(result, array)


def test_read_idx_rejects_bad_magic_number(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="magic number"):
        read_idx(path)


def test_read_idx_rejects_truncated_data(tmp_path):
    write_idx(tmp_path / "data", np.zeros((3, 4), np.uint8), compress=False)
    path = tmp_path / "data"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="header"):
        read_idx(path)


# --------------------------------------------------------- missing data
def test_missing_local_file_without_download_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "mnist.npz") in message
    assert "SKGMVAE_DATA" in message
    assert "savez_compressed" in message
    assert "download=False" in message


def test_failed_download_gives_clear_error(tmp_path, no_download):
    with pytest.raises(FileNotFoundError, match="OpenML failed.*URLError") as info:
        load_dataset("usps", data_dir=tmp_path)
    assert str(tmp_path / "usps.npz") in str(info.value)
    assert isinstance(info.value.__cause__, URLError)


def test_no_folder_and_no_network(no_download):
    with pytest.raises(FileNotFoundError, match="SKGMVAE_DATA unset"):
        load_dataset("fashion_mnist")


def test_openml_fallback_is_scaled_and_labels_parsed(monkeypatch, tmp_path):
    calls = []

    def fake_fetch(name, *, version, return_X_y, as_frame):
        calls.append((name, version))
        if name == "usps":
            X = np.linspace(-1.0, 1.0, 2 * 256).reshape(2, 256)
            return X, np.array(["1", "10"], dtype=object)
        return np.full((2, 784), 255.0), np.array(["3", "7"], dtype=object)

    monkeypatch.setattr(datasets, "fetch_openml", fake_fetch)

    X, y = load_dataset("mnist", data_dir=tmp_path)
    assert X.dtype == np.float32 and X.max() == 1.0
    assert y.tolist() == [3, 7] and y.dtype == np.int64

    X, y = load_dataset("usps")
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.tolist() == [0, 9]  # OpenML's classes 1-10 are the digits 0-9
    assert calls == [("mnist_784", 1), ("usps", 1)]


# ------------------------------------------------------------ real MNIST
@pytest.mark.skipif(
    not (SHARED_DATA / "mnist.npz").is_file(), reason="no local copy of MNIST"
)
def test_real_mnist_from_shared_folder():
    X, y = load_dataset("mnist", data_dir=SHARED_DATA, download=False)
    assert X.shape == (70000, 784)
    assert X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    # Reference values of the data folder's README (training split).
    counts = np.bincount(y[:60000], minlength=10)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918] + [
        6265,
        5851,
        5949,
    ]
    assert X[:60000].mean() == pytest.approx(0.1307, abs=1e-4)

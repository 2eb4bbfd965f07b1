"""Tests of benchmarks/peers.py: the N2D codes, the table, a tiny run."""

from pathlib import Path

import numpy as np
import pytest

PEERS_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"


@pytest.fixture(scope="module")
def peers(import_script):
    return import_script(PEERS_PY, "skgmvae_benchmark_peers")


def test_autoencoder_codes_are_standardized(peers, digits01):
    # Two autoencoder epochs: the shape and scaling matter here.
    codes = peers.autoencoder_codes(digits01[0], 3, seed=0, pretrain_iter=2)
    assert codes.shape == (digits01[0].shape[0], 10)
    np.testing.assert_allclose(codes.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(codes.std(0), 1, atol=1e-2)


def test_table_has_one_row_per_data_set_and_method(peers):
    records = [
        {"dataset": "d", "method": m, "seed": s, "acc": a, "nmi": 0.5, "seconds": 1.0}
        for m, s, a in [("n2d", 0, 0.8), ("n2d", 1, 0.6), ("gmvae", 0, 0.9)]
    ]
    lines = peers.markdown(records).splitlines()
    assert len(lines) == 4
    assert "| d | n2d | 2 | 0.700 | 0.600 | 0.500 | 1.0 |" in lines


def test_unknown_method_is_rejected(peers):
    with pytest.raises(SystemExit):
        peers.parse_args(["--methods", "kmeans"])


def test_umap_gmm_on_blobs(peers, blobs):
    pytest.importorskip("umap")
    X, y = blobs
    labels = peers.umap_gmm(X, 3, seed=0, parallel=False)
    assert labels.shape == y.shape and len(np.unique(labels)) == 3

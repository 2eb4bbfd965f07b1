"""Tests of benchmarks/speed.py: the FLOP count, the peak tracker, a tiny run."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from skgmvae import GMVAEClustering

SPEED_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


@pytest.fixture(scope="module")
def speed(import_script):
    """benchmarks/speed.py imported as a module."""
    return import_script(SPEED_PY, "skgmvae_speed")


def _fitted(**params):
    X = np.random.default_rng(0).random((60, 12))
    model = GMVAEClustering(
        n_clusters=3,
        hidden_layer_sizes=(8, 6),
        latent_dim=4,
        max_iter=1,
        pretrain_iter=1,
        init_params="random",
        random_state=0,
        **params,
    )
    with pytest.warns(Warning):
        return model.fit(X)


def test_flop_count_by_hand(speed):
    # Layers (inputs x outputs): q(y|x) 12x8, 8x6, 6x3; q(z|x,y) 12x8 plus
    # the 3x8 cluster rows, 8x6, 6x8; decoder 4x6, 6x8, 8x12.
    elbo_macs = (96 + 48 + 18) + (96 + 24 + 48 + 48) + (24 + 48 + 96)
    cluster_encoder_macs = 96 + 48 + 18
    model = _fitted()
    assert speed.training_flops_per_sample(model, neighbors=False) == 6 * elbo_macs
    assert speed.training_flops_per_sample(model) == 6 * (
        elbo_macs + cluster_encoder_macs
    )
    plain = _fitted(neighbor_weight=0.0, balance_weight=0.0)
    assert speed.training_flops_per_sample(plain) == 6 * elbo_macs


@pytest.fixture
def small_products(speed, monkeypatch):
    """matmul_gflops times 16-row products whatever shape it is asked for: a
    product of 1,024 rows takes most of a second in bfloat16 on CPUs without
    native bfloat16 arithmetic, and the tests check what is done with the
    measurements, not their shape."""
    measure = speed.matmul_gflops

    def small_product(dtype, device, rows=1024, seconds=1.0):
        return measure(dtype, device, rows=16, seconds=seconds)

    monkeypatch.setattr(speed, "matmul_gflops", small_product)


@pytest.mark.usefixtures("small_products")
def test_peak_tracker_keeps_the_highest(speed):
    tracker = speed.PeakTracker("cpu", seconds=0.01)
    tracker.measure("one")
    tracker.measure("two")
    for name in ("float32", "bfloat16"):
        values = tracker.measurements[name]
        assert len(values) == 2 and min(values) > 0
        assert tracker.peaks[name] == max(values)


def test_matmul_gflops_is_positive_and_finite(speed):
    value = speed.matmul_gflops(torch.float32, "cpu", rows=16, seconds=0.01)
    assert np.isfinite(value) and value > 0


@pytest.mark.usefixtures("small_products")
def test_tiny_run_writes_report(speed, tmp_path):
    code = speed.main(
        [
            "--dataset",
            "digits",
            "--epochs",
            "2",
            "--precisions",
            "float32",
            "--scaling",
            "500",
            "5000",
            "--peak-seconds",
            "0.01",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    (report_file,) = tmp_path.glob("speed-*.json")
    report = json.loads(report_file.read_text())
    (row,) = report["training"]
    assert row["n_samples"] == 1797 and row["batch_size"] == 128
    assert len(row["epoch_seconds_all"]) == 2 + GMVAEClustering().average_epochs
    assert row["gflops"] > row["elbo_gflops"] > 0
    assert row["peak_fraction_of_float32_matmul"] == pytest.approx(
        row["gflops"] / report["matmul_gflops"]["float32"]
    )
    # 5000 exceeds the 1,797 digits: skipped, not timed on fewer samples.
    assert [r["n_samples"] for r in report["scaling"]] == [500]
    assert [r["rows"] for r in report["matmul_by_rows"]] == [256, 512, 1024]
    assert (tmp_path / report_file.name.replace(".json", ".md")).is_file()

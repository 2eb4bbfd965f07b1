"""Tests of benchmarks/stages.py: reading the stage times, a tiny run."""

import json
from pathlib import Path

import pytest

from skgmvae import GMVAEClustering

STAGES_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "stages.py"


@pytest.fixture(scope="module")
def stages(import_script):
    return import_script(STAGES_PY, "skgmvae_benchmark_stages")


def test_stage_times_are_read_from_the_verbose_log(stages):
    log = "\n".join(
        [
            "Initialization 1/1",
            "[autoencoder] epoch 1/2: loss 3.0, 1.50 s, about 1.5 s left",
            "[autoencoder] done in 3.2 s",
            "[initial clusters] done in 0.7 s",
            "[ELBO] epoch 1/50: loss 9.0 (reconstruction 8.0), temperature 0.9,"
            " 2.00 s, at most 98 s left",
            "[ELBO] epoch 2/50: loss 8.9 (reconstruction 8.0), temperature 0.8,"
            " 2.50 s, at most 96 s left",
        ]
    )
    seconds = stages.stage_seconds(log)
    assert seconds["autoencoder"] == 3.2
    assert seconds["initial clusters"] == 0.7
    assert seconds["ELBO"] == 4.5
    assert seconds["alignment"] == 0.0


# Two ELBO epochs, to be quick, cannot converge.
@pytest.mark.filterwarnings(
    "ignore:GMVAEClustering stopped after:sklearn.exceptions.ConvergenceWarning"
)
def test_a_tiny_series_is_saved(stages, tmp_path):
    stages.main(
        [
            "--dataset", "digits", "--n-samples", "200", "300",
            "--param", "pretrain_iter=2", "--param", "max_iter=2",
            "--out", str(tmp_path),
        ]
    )  # fmt: skip
    runs = json.loads((tmp_path / "stages.json").read_text())["runs"]
    assert [r["n_samples"] for r in runs] == [200, 300]
    for run in runs:
        # The log rounds each stage to 0.1 s (a tiny stage prints 0.0 s).
        stage_total = sum(run[name] for name in stages.STAGES)
        assert min(run[name] for name in stages.STAGES) >= 0
        assert run["fit"] >= stage_total - 0.05 * len(stages.STAGES)
        assert run["elbo_epochs"] == 2 + GMVAEClustering().average_epochs
    table = (tmp_path / "stages.md").read_text()
    assert "| autoencoder |" in table and "digits 300, seed 0" in table

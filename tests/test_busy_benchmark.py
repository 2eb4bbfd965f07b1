"""benchmarks/busy.py: a tiny run under a real load writes its report."""

import functools
import json
from pathlib import Path

import pytest

from skgmvae import GMVAEClustering

BUSY_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "busy.py"


@pytest.fixture(scope="module")
def busy(import_script):
    """benchmarks/busy.py imported as a module."""
    return import_script(BUSY_PY, "skgmvae_busy")


@pytest.mark.usefixtures("two_threads")
def test_tiny_run_under_load_writes_report(busy, fast, tmp_path, monkeypatch):
    small = functools.partial(GMVAEClustering, **fast)
    monkeypatch.setattr(busy, "GMVAEClustering", small)
    assert busy.main(["--datasets", "iris", "--out", str(tmp_path)]) == 0
    (report_file,) = tmp_path.glob("busy-*.json")
    report = json.loads(report_file.read_text())
    (row,) = report["rows"]
    assert row["dataset"] == "iris" and report["idle_check"]
    assert row["idle"]["seconds"] > 0 and row["busy"]["seconds"] > 0
    # Every CPU was kept busy: the fit took one of the two threads allowed.
    assert row["busy"]["threads"] == 1
    assert row["ratio"] == pytest.approx(
        row["busy"]["seconds"] / row["idle"]["seconds"]
    )
    assert (tmp_path / report_file.name.replace(".json", ".md")).is_file()

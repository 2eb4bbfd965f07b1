"""Tests of benchmarks/run.py: the quick mode end to end, and its helpers."""

import csv
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from skgmvae import GMVAEClustering

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_PY = REPO_ROOT / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def run(import_script):
    """benchmarks/run.py imported as a module."""
    return import_script(RUN_PY, "skgmvae_benchmark_run")


@pytest.fixture(scope="module")
def quick_run(run, tmp_path_factory):
    """One ``--quick`` run into a temporary folder: its folder, code, output."""
    out = tmp_path_factory.mktemp("bench")
    code = run.main(["--quick", "--threads", "1", "--out", str(out)])
    return out, code


def test_quick_run_succeeds_and_writes_files(quick_run, run):
    out, code = quick_run
    assert code == 0
    for name in ("results.md", "runs.json", "runs.csv", "summary.csv"):
        assert (out / name).is_file(), name
    if run.bench_figures.matplotlib_available():
        for name in ("accuracy.png", "fit_time.png", "latent_digits.png"):
            assert (out / name).stat().st_size > 1000, name
        assert (out / "samples_digits.png").is_file()


def test_quick_run_json_has_sane_values(quick_run):
    out, _ = quick_run
    payload = json.loads((out / "runs.json").read_text())
    assert payload["state"] == "done"
    assert not list(out.glob("*.tmp"))
    runs = payload["runs"]
    assert [r["method"] for r in runs] == ["gmvae", "kmeans", "gmm-diag", "gmm-full"]
    for record in runs:
        assert record["dataset"] == "digits"
        assert record["seed"] == 0
        assert record["status"] == "ok"
        assert record["error"] is None
        assert (record["n_samples"], record["n_features"]) == (1797, 64)
        assert record["n_clusters"] == 10
        for metric in ("acc", "nmi", "ari"):
            assert -1.0 <= record[metric] <= 1.0
        assert 0.0 < record["acc"] <= 1.0
        assert record["fit_seconds"] > 0 and record["predict_seconds"] >= 0
        assert record["device"] == "cpu" or record["device"].startswith("cuda")
        assert 1 <= record["n_clusters_used"] <= 10
    # The quick GMVAE runs exactly the epochs it is given, then the
    # averaged ones.
    assert runs[0]["n_iter"] == 2 + GMVAEClustering().average_epochs
    # k-means on the digits is far better than chance whatever the seed.
    assert runs[1]["acc"] > 0.6
    env = payload["environment"]
    for key in ("torch", "sklearn", "numpy", "cpu_model", "torch_threads", "date"):
        assert env[key] not in (None, ""), key
    assert env["command"].startswith("python benchmarks/run.py --quick")
    assert env["torch_threads"] == 1
    assert payload["options"]["gmvae_quick_params"]["max_iter"] == 2


def test_quick_run_table_matches_json(quick_run):
    out, _ = quick_run
    runs = json.loads((out / "runs.json").read_text())["runs"]
    markdown = (out / "results.md").read_text()
    assert "| Data set | Method | Seeds | ACC |" in markdown
    for record in runs:
        row = f"| digits | {record['method']} | 1 | {record['acc']:.3f} |"
        assert row in markdown
    with open(out / "runs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(runs)
    assert float(rows[1]["acc"]) == pytest.approx(runs[1]["acc"])


def test_quick_run_prints_progress_and_table(run, tmp_path, capsys):
    code = run.main(
        ["--quick", "--threads", "1", "--methods", "kmeans", "--no-figures"]
        + ["--out", str(tmp_path)]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "digits | kmeans | seed 0 (1 of 1) ..." in printed
    assert "| digits | kmeans | 1 |" in printed
    assert not list(tmp_path.glob("*.png"))


def test_figures_skipped_without_matplotlib(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(run.bench_figures, "matplotlib_available", lambda: False)
    code = run.main(
        ["--quick", "--methods", "kmeans", "--threads", "1", "--out", str(tmp_path)]
    )
    assert code == 0
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.png"))
    assert (tmp_path / "results.md").is_file()


def test_no_runs_still_writes_outputs(run, tmp_path):
    # gmm-full is the only method and is skipped on 64 features > 10.
    code = run.main(
        ["--methods", "gmm-full", "--gmm-full-max-features", "10"]
        + ["--no-figures", "--out", str(tmp_path)]
    )
    assert code == 0
    payload = json.loads((tmp_path / "runs.json").read_text())
    assert payload["runs"] == []
    assert "gmm-full skipped" in payload["notes"][0]


def test_failed_run_is_recorded_and_sets_exit_code(run, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(run, "make_estimator", broken)
    code = run.main(
        ["--datasets", "wine", "--methods", "kmeans", "--seeds", "2"]
        + ["--no-figures", "--out", str(tmp_path)]
    )
    assert code == 1
    runs = json.loads((tmp_path / "runs.json").read_text())["runs"]
    assert [r["error"] for r in runs] == ["RuntimeError: boom"] * 2
    assert [r["status"] for r in runs] == ["failed"] * 2
    assert "0 (2 failed)" in (tmp_path / "results.md").read_text()


def test_default_seeds_and_skipped_full_covariance(run):
    options = run.parse_args(["--out", "unused"])
    assert options.datasets == ["digits"]
    assert options.methods == ["gmvae", "kmeans", "gmm-diag", "gmm-full"]
    assert run.n_seeds_for(np.zeros((1797, 64)), options) == 5
    assert run.n_seeds_for(np.zeros((70000, 2)), options) == 3
    methods, notes = run.methods_for(np.zeros((5, 784)), options)
    assert methods == ["gmvae", "kmeans", "gmm-diag"]
    assert "gmm-full skipped" in notes[0]
    assert run.parse_args(["--quick"]).seeds == 1
    assert run.parse_args(["--quick", "--seeds", "3"]).seeds == 3


def test_estimators_follow_the_options(run):
    options = run.parse_args(["--quick", "--max-iter", "7", "--device", "cpu"])
    gmvae = run.make_estimator("gmvae", 4, 3, options)
    assert (gmvae.max_iter, gmvae.pretrain_iter) == (7, 1)
    assert (gmvae.n_clusters, gmvae.random_state, gmvae.device) == (4, 3, "cpu")
    kmeans = run.make_estimator("kmeans", 4, 3, options)
    assert (kmeans.n_clusters, kmeans.n_init) == (4, 10)
    full = run.make_estimator("gmm-full", 4, 3, options)
    assert (full.n_components, full.covariance_type) == (4, "full")


def test_bad_arguments_are_rejected(run):
    with pytest.raises(SystemExit):
        run.parse_args(["--datasets", "nope"])
    with pytest.raises(SystemExit):
        run.parse_args(["--seeds", "0"])


def test_summary_statistics(run):
    report = run.bench_report
    runs = [
        {
            "dataset": "d",
            "method": "m",
            "acc": acc,
            "nmi": 0.5,
            "ari": 0.25,
            "fit_seconds": 1.0 + i,
            "predict_seconds": 0.1,
            "peak_mem_mb": 10.0 * i,
            "gpu_peak_mb": None,
            "device": "cpu",
            "n_clusters_used": 3 + i,
            "error": None,
        }
        for i, acc in enumerate([0.5, 0.7, 0.9])
    ]
    (row,) = report.summarize(runs)
    assert row["n_seeds"] == 3
    assert row["acc_mean"] == pytest.approx(0.7)
    assert row["acc_std"] == pytest.approx(0.2)  # sample standard deviation
    assert row["acc_min"] == pytest.approx(0.5)
    assert row["fit_seconds_mean"] == pytest.approx(2.0)
    assert row["peak_mem_mb_max"] == pytest.approx(20.0)
    table = report.markdown_table([row])
    assert "| d | m | 3 | 0.700 ± 0.200 | 0.500 | 0.500 ± 0.000 |" in table
    assert "| 3–5 |" in table
    assert math.isnan(report.summarize([{**runs[0], "error": "x"}])[0]["acc_mean"])


def test_image_figures_for_28x28_data(run, tmp_path):
    if not run.bench_figures.matplotlib_available():
        pytest.skip("matplotlib is not installed")
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(6000, 784)).astype(np.float32)
    y = rng.integers(0, 3, size=6000)
    model = GMVAEClustering(
        n_clusters=3,
        latent_dim=2,
        hidden_layer_sizes=(8,),
        max_iter=1,
        pretrain_iter=1,
        batch_size=1000,
        device="cpu",
        random_state=0,
    )
    with pytest.warns(Warning):  # one epoch does not converge
        model.fit(X)
    figures = run.model_figures(model, X, y, "mnist", tmp_path)
    assert sorted(figures) == ["latent_mnist.png", "samples_mnist.png"]
    for name in figures:
        assert (tmp_path / name).stat().st_size > 1000


# ------------------------------------------------------- interrupts (Ctrl-C)
class _InterruptedFit:
    """Stands in for GMVAEClustering.fit when Ctrl-C arrives: the estimator
    catches the interrupt, keeps the last epoch and only warns."""

    def fit(self, X):
        warnings.warn(
            "Training interrupted after 3 epochs; the model keeps the state of "
            "the last completed epoch.",
            RuntimeWarning,
            stacklevel=2,
        )
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


class _DirectInterrupt:
    """An estimator whose fit the interrupt reaches directly (as KMeans)."""

    def fit(self, X):
        raise KeyboardInterrupt

    def predict(self, X):  # pragma: no cover - never reached
        raise AssertionError


def _main_catching_interrupt(run, argv):
    # Without the runner's handling a KeyboardInterrupt would end the whole
    # pytest session instead of failing this test.
    try:
        return run.main(argv)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped run.main")


def test_interrupt_caught_by_the_estimator_stops_the_benchmark(
    run, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(run, "make_estimator", lambda *args: _InterruptedFit())
    code = _main_catching_interrupt(
        run,
        ["--datasets", "wine", "--methods", "kmeans", "--seeds", "3"]
        + ["--threads", "1", "--no-figures", "--out", str(tmp_path)],
    )
    printed = capsys.readouterr().out
    assert code == 130
    payload = json.loads((tmp_path / "runs.json").read_text())
    assert payload["state"] == "interrupted"
    # Stopped at the first seed, which is recorded as cut, not scored.
    (record,) = payload["runs"]
    assert (record["seed"], record["status"], record["acc"]) == (0, "interrupted", None)
    assert "Training interrupted after 3 epochs" in record["warnings"][0]
    (row,) = payload["summary"]
    assert (row["n_seeds"], row["n_interrupted"], row["n_failed"]) == (0, 1, 0)
    assert row["acc_mean"] is None  # NaN in JSON
    assert "| wine | kmeans | 0 (1 interrupted) | - |" in printed
    assert "INTERRUPTED during wine | kmeans | seed 0 (1 of 3)" in printed
    assert "seed 1 (2 of 3)" not in printed


def test_direct_interrupt_stops_after_the_completed_runs(run, tmp_path, monkeypatch):
    make_estimator = run.make_estimator

    def interrupted_at_seed_1(method, n_clusters, seed, options):
        if seed == 1:
            return _DirectInterrupt()
        return make_estimator(method, n_clusters, seed, options)

    monkeypatch.setattr(run, "make_estimator", interrupted_at_seed_1)
    code = _main_catching_interrupt(
        run,
        ["--datasets", "wine", "--methods", "kmeans", "gmm-diag", "--seeds", "3"]
        + ["--threads", "1", "--no-figures", "--out", str(tmp_path)],
    )
    assert code == 130
    runs = json.loads((tmp_path / "runs.json").read_text())["runs"]
    # gmm-diag never started: the interrupt stops the whole benchmark.
    assert [(r["method"], r["seed"], r["status"]) for r in runs] == [
        ("kmeans", 0, "ok"),
        ("kmeans", 1, "interrupted"),
    ]
    with open(tmp_path / "summary.csv", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["n_seeds"], row["n_interrupted"]) == ("1", "1")
    assert float(row["acc_mean"]) == pytest.approx(runs[0]["acc"])
    results = (tmp_path / "results.md").read_text()
    assert f"| wine | kmeans | 1 (1 interrupted) | {runs[0]['acc']:.3f} |" in results
    assert "Interrupted during wine | kmeans | seed 1 (2 of 3)" in results


def test_summary_and_figures_leave_out_interrupted_runs(run, tmp_path):
    report = run.bench_report
    ok = {
        "dataset": "d",
        "method": "m",
        "status": "ok",
        "acc": 0.5,
        "nmi": 0.5,
        "ari": 0.5,
        "fit_seconds": 1.0,
        "predict_seconds": 0.1,
        "peak_mem_mb": 1.0,
        "gpu_peak_mb": None,
        "device": "cpu",
        "n_clusters_used": 3,
        "error": None,
    }
    cut = {**dict.fromkeys(ok), "dataset": "d", "method": "m"}
    cut.update(status="interrupted", device="-")
    (row,) = report.summarize([ok, cut])
    assert (row["n_seeds"], row["n_failed"], row["n_interrupted"]) == (1, 0, 1)
    assert (row["acc_mean"], row["acc_min"]) == (0.5, 0.5)
    assert "| d | m | 1 (1 interrupted) | 0.500 | 0.500 |" in report.markdown_table(
        [row]
    )
    if not run.bench_figures.matplotlib_available():
        pytest.skip("matplotlib is not installed")
    assert run.bench_figures.plot_scores([ok, cut], tmp_path) == "accuracy.png"


# ------------------------------------------------------- files as runs end
def test_runs_json_is_written_after_each_run(run, tmp_path, monkeypatch):
    make_estimator = run.make_estimator
    seen = []

    def reading_runs_json(method, n_clusters, seed, options):
        # What a reader (or a kill) would find while seed 1 runs.
        seen.append(json.loads((tmp_path / "runs.json").read_text()))
        return make_estimator(method, n_clusters, seed, options)

    monkeypatch.setattr(run, "make_estimator", reading_runs_json)
    code = run.main(
        ["--datasets", "wine", "--methods", "kmeans", "--seeds", "2"]
        + ["--threads", "1", "--no-figures", "--out", str(tmp_path)]
    )
    assert code == 0
    assert [len(payload["runs"]) for payload in seen] == [0, 1]
    assert seen[1]["state"] == "running"
    assert seen[1]["runs"][0]["seed"] == 0 and seen[1]["runs"][0]["acc"] > 0.5
    assert seen[1]["summary"][0]["n_seeds"] == 1
    final = json.loads((tmp_path / "runs.json").read_text())
    assert final["state"] == "done" and len(final["runs"]) == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_write_json_keeps_the_old_file_when_writing_fails(run, tmp_path):
    path = tmp_path / "runs.json"
    run.bench_report.write_json(path, {"runs": [1]})
    with pytest.raises(TypeError):  # not serializable, fails half-way
        run.bench_report.write_json(path, {"runs": [2, object()]})
    assert json.loads(path.read_text()) == {"runs": [1]}


# ------------------------------------------------------------ seed numbers
def test_progress_and_result_lines_number_seeds_alike(run, tmp_path, capsys):
    code = run.main(
        ["--datasets", "wine", "--methods", "kmeans", "--seeds", "2"]
        + ["--threads", "1", "--no-figures", "--out", str(tmp_path)]
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    for seed in (0, 1):
        label = f"wine | kmeans | seed {seed} ({seed + 1} of 2)"
        assert any(line.endswith(f"{label} ...") for line in lines), label
        assert any(f"{label}: ACC " in line for line in lines), label
    assert not [line for line in lines if re.search(r"seed \d+/\d+", line)]


# ----------------------------------------------------------- documentation
def _installs_bench(line: str) -> bool:
    """Whether every ``pip install -e`` of ``line`` has the bench extra."""
    targets = re.findall(r'pip install -e ("[^"]*"|[^\s`]+)', line)
    extra = re.compile(r'"?\.\[[^\]]*\bbench\b[^\]]*\]"?')
    return bool(targets) and all(extra.fullmatch(target) for target in targets)


def test_documented_benchmark_install_has_the_bench_extra():
    # Without the bench extra (matplotlib) the benchmark skips its figures.
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    commands = [
        line for line in readme if "pip install" in line and "benchmarks/run.py" in line
    ]
    assert commands
    for line in commands:
        assert _installs_bench(line), line
    bench_readme = (REPO_ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    installs = [line for line in bench_readme.splitlines() if "pip install -e" in line]
    assert installs
    for line in installs:
        assert _installs_bench(line), line


def test_unequal_classes_keep_geometric_sizes(run):
    y = np.repeat(np.arange(4), [60, 50, 80, 70])
    X = np.arange(y.size, dtype=float)[:, None]
    X_sub, y_sub = run.unequal_classes(X, y, 8.0)
    # From the smallest class's 50 down to 50 / 8, by a factor of 2 a step.
    np.testing.assert_array_equal(np.bincount(y_sub), [50, 25, 12, 6])
    # Rows keep their order and stay paired with their labels.
    assert (np.diff(X_sub[:, 0]) > 0).all()
    np.testing.assert_array_equal(y[X_sub[:, 0].astype(int)], y_sub)
    again = run.unequal_classes(X, y, 8.0)
    np.testing.assert_array_equal(again[0], X_sub)


def test_class_ratio_option(run):
    assert run.parse_args(["--class-ratio", "10"]).class_ratio == 10.0
    assert run.parse_args([]).class_ratio is None
    with pytest.raises(SystemExit):
        run.parse_args(["--class-ratio", "0.5"])

"""Per-run records, summaries, tables and output files of ``run.py``.

Helpers of ``benchmarks/run.py``: nothing here fits a model. The environment
record and the memory readings are in ``bench_env.py``, shared with the
other benchmark scripts.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import bench_env
import numpy as np

# Columns of runs.csv, in order; one row per (data set, method, seed).
RUN_FIELDS = (
    "dataset",
    "method",
    "seed",
    "status",
    "n_samples",
    "n_features",
    "n_clusters",
    "acc",
    "nmi",
    "ari",
    "fit_seconds",
    "predict_seconds",
    "peak_mem_mb",
    "max_rss_mb",
    "gpu_peak_mb",
    "device",
    "threads",
    "n_iter",
    "converged",
    "n_clusters_used",
    "warnings",
    "error",
)

# Metrics summarised as mean, standard deviation and worst (min) over seeds.
SCORES = ("acc", "nmi", "ari")


def completed(run: dict[str, Any]) -> bool:
    """Whether ``run`` finished and was scored: not failed (``status``
    "failed", or an ``error``) nor cut by an interrupt ("interrupted")."""
    return run.get("status", "ok") == "ok" and not run.get("error")


# ----------------------------------------------------------------- summary
def summarize(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean, standard deviation and worst value over seeds per group.

    Runs are grouped by (data set, method) in order of first appearance;
    failed and interrupted runs are counted but left out of the statistics
    (an interrupted model is half-trained, not a result). The standard
    deviation is the sample one (``ddof=1``), 0 for a single seed.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["dataset"], run["method"]), []).append(run)
    return [_summarize_group(key, group) for key, group in groups.items()]


def _summarize_group(
    key: tuple[str, str], group: list[dict[str, Any]]
) -> dict[str, Any]:
    ok = [run for run in group if completed(run)]
    n_interrupted = sum(run.get("status") == "interrupted" for run in group)
    row: dict[str, Any] = {
        "dataset": key[0],
        "method": key[1],
        "n_seeds": len(ok),
        "n_failed": len(group) - len(ok) - n_interrupted,
        "n_interrupted": n_interrupted,
        "device": ", ".join(sorted({str(run["device"]) for run in ok})) or "-",
    }
    for name in (*SCORES, "fit_seconds", "predict_seconds"):
        values = [run[name] for run in ok]
        row[f"{name}_mean"], row[f"{name}_std"] = _mean_std(values)
        row[f"{name}_min"] = min(values) if values else math.nan
        row[f"{name}_max"] = max(values) if values else math.nan
    used = [run["n_clusters_used"] for run in ok]
    row["n_clusters_used_min"] = min(used) if used else None
    row["n_clusters_used_max"] = max(used) if used else None
    memory = [run["peak_mem_mb"] for run in ok if run["peak_mem_mb"] is not None]
    row["peak_mem_mb_max"] = max(memory) if memory else None
    gpu = [run["gpu_peak_mb"] for run in ok if run["gpu_peak_mb"] is not None]
    row["gpu_peak_mb_max"] = max(gpu) if gpu else None
    return row


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    array = np.asarray(values, dtype=float)
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return float(array.mean()), std


# ----------------------------------------------------------------- tables
def markdown_table(summary: Sequence[dict[str, Any]]) -> str:
    """The summary as a Markdown table, one row per (data set, method)."""
    header = (
        "| Data set | Method | Seeds | ACC | ACC worst | NMI | NMI worst | ARI "
        "| ARI worst | Clusters used | Fit (s) | Predict (s) | Peak mem (MiB) "
        "| Device |"
    )
    align = "|" + "|".join(["---"] * 2 + ["---:"] * 11 + ["---"]) + "|"
    lines = [header, align]
    for row in summary:
        cells = [row["dataset"], row["method"], _seeds_cell(row)]
        for name in SCORES:
            cells.append(_pm(row, name, 3))
            cells.append(_num(row[f"{name}_min"], 3))
        cells.append(
            _range_cell(row["n_clusters_used_min"], row["n_clusters_used_max"])
        )
        cells.append(_pm(row, "fit_seconds", 2))
        cells.append(_pm(row, "predict_seconds", 3))
        cells.append(_memory_cell(row))
        cells.append(row["device"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _seeds_cell(row: dict[str, Any]) -> str:
    left_out = [
        f"{row[key]} {word}"
        for key, word in (("n_failed", "failed"), ("n_interrupted", "interrupted"))
        if row.get(key)
    ]
    if left_out:
        return f"{row['n_seeds']} ({', '.join(left_out)})"
    return str(row["n_seeds"])


def _range_cell(low: int | None, high: int | None) -> str:
    if low is None:
        return "-"
    return str(low) if low == high else f"{low}–{high}"


def _memory_cell(row: dict[str, Any]) -> str:
    cell = _num(row["peak_mem_mb_max"], 1)
    if row["gpu_peak_mb_max"] is not None:
        cell += f" (GPU {row['gpu_peak_mb_max']:.0f})"
    return cell


def _num(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def _pm(row: dict[str, Any], name: str, digits: int) -> str:
    """Mean ± standard deviation, or the single value of a single seed."""
    mean, std = row[f"{name}_mean"], row[f"{name}_std"]
    if not math.isfinite(mean):
        return "-"
    if row["n_seeds"] < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def results_markdown(
    env: dict[str, Any],
    table: str,
    notes: Iterable[str],
    figures: Iterable[str],
) -> str:
    """The content of results.md: command, environment, table, notes."""
    lines = [
        "# Clustering benchmark",
        "",
        *bench_env.environment_markdown(env),
        "",
        table,
        "",
        "ACC, NMI, ARI, Fit and Predict: mean ± standard deviation over seeds; "
        "worst: the lowest value over seeds. Clusters used: the number of "
        "distinct predicted labels (lowest–highest over seeds). Peak mem: the "
        "largest increase of the process's resident memory during fit and "
        "predict, sampled (largest over seeds).",
    ]
    notes = list(notes)
    if notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    figures = list(figures)
    if figures:
        lines += ["", "Figures:", ""] + [f"- ![{name}]({name})" for name in figures]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ files
def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON; NaN becomes null.

    Written to a temporary file that then replaces ``path``, so that a
    reader, or a kill during the write, finds the old file or the new one,
    never half of one: the benchmark rewrites its ``runs.json`` after every
    run.
    """
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(_json_safe(payload), handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {key: _json_safe(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(value) for value in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_csv(
    path: Path, rows: Sequence[dict[str, Any]], fields: Sequence[str]
) -> None:
    """Write ``rows`` with the columns ``fields``; lists are joined by ' | '."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_cell(row.get(key)) for key in fields})


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return " | ".join(str(item) for item in value)
    return "" if value is None else value

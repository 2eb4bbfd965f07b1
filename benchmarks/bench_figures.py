"""Figures of ``benchmarks/run.py``, drawn with matplotlib when installed.

Every public function returns the file name it wrote (relative to the output
folder), or None when there was nothing to draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bench_report
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import PCA
from sklearn.metrics.cluster import contingency_matrix

# Points drawn in the latent scatter plot, a random subset of the data.
_LATENT_POINTS = 5000
# Generated images per cluster in the sample grid.
_SAMPLES_PER_CLUSTER = 10


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scores(
    runs: Sequence[dict[str, Any]],
    out: Path,
    metric: str = "acc",
    label: str = "ACC",
    file_name: str = "accuracy.png",
    log: bool = False,
) -> str | None:
    """Bars of the mean per method, one panel per data set, seeds as dots.

    Failed and interrupted runs are left out, as in the summary table.
    """
    ok = [run for run in runs if bench_report.completed(run)]
    datasets = list(dict.fromkeys(run["dataset"] for run in ok))
    if not datasets:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(3.2 * len(datasets) + 1, 3.6), squeeze=False
    )
    for ax, dataset in zip(axes[0], datasets, strict=True):
        _score_panel(ax, [run for run in ok if run["dataset"] == dataset], metric)
        ax.set_title(dataset)
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        elif metric in ("acc", "nmi", "ari"):
            ax.set_ylim(0, 1)
    return _save(fig, out, file_name, dpi=120)


def _score_panel(ax, runs: Sequence[dict[str, Any]], metric: str) -> None:
    methods = list(dict.fromkeys(run["method"] for run in runs))
    for position, method in enumerate(methods):
        values = np.array([run[metric] for run in runs if run["method"] == method])
        ax.bar(position, values.mean(), color=f"C{position}", alpha=0.6)
        jitter = np.linspace(-0.15, 0.15, values.size) if values.size > 1 else [0]
        ax.plot(position + np.asarray(jitter), values, "k.", markersize=5)
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels(methods, rotation=30, ha="right")


def plot_times(runs: Sequence[dict[str, Any]], out: Path) -> str | None:
    """Fit seconds per method and data set (log scale), seeds as dots."""
    return plot_scores(
        runs, out, "fit_seconds", "fit time (s)", "fit_time.png", log=True
    )


def plot_samples(
    model: Any,
    labels_true: np.ndarray,
    image_shape: tuple[int, int],
    out: Path,
    dataset: str,
) -> str | None:
    """Images drawn with ``model.sample()``, one row per cluster.

    Rows are labelled with the class each cluster is matched to by the
    Hungarian matching of the training labels, and sorted by that class.
    """
    n_clusters = model.n_clusters
    X, clusters = model.sample(n_clusters * _SAMPLES_PER_CLUSTER * 4)
    matched = _matched_classes(labels_true, model.labels_)
    order = sorted(
        range(n_clusters), key=lambda k: (k not in matched, matched.get(k, 0), k)
    )
    plt = _pyplot()
    fig, axes = plt.subplots(
        n_clusters,
        _SAMPLES_PER_CLUSTER,
        figsize=(_SAMPLES_PER_CLUSTER * 0.7 + 1.2, n_clusters * 0.7 + 0.5),
        squeeze=False,
    )
    for row, cluster in enumerate(order):
        images = X[clusters == cluster][:_SAMPLES_PER_CLUSTER]
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(images):
                ax.imshow(
                    images[col].reshape(image_shape), cmap="gray_r", vmin=0, vmax=1
                )
        axes[row, 0].set_ylabel(
            f"{cluster}→{matched.get(cluster, '-')}", rotation=0, ha="right"
        )
    fig.suptitle(f"{dataset}: GMVAE samples per cluster (cluster→class)")
    file_name = f"samples_{dataset}.png"
    return _save(fig, out, file_name, dpi=100)


def _save(fig, out: Path, file_name: str, *, dpi: int) -> str:
    """Lay out, write and close ``fig``; return its file name."""
    fig.tight_layout()
    fig.savefig(out / file_name, dpi=dpi)
    _pyplot().close(fig)
    return file_name


def _matched_classes(labels_true, labels_pred) -> dict[int, Any]:
    """Class assigned to each cluster by the Hungarian matching."""
    classes, class_index = np.unique(labels_true, return_inverse=True)
    clusters, cluster_index = np.unique(labels_pred, return_inverse=True)
    contingency = contingency_matrix(class_index, cluster_index)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    return {
        int(clusters[c]): classes[r].item() for r, c in zip(rows, cols, strict=True)
    }


def plot_latent(
    model: Any, X: np.ndarray, y: np.ndarray, out: Path, dataset: str
) -> str | None:
    """PCA to 2-D of ``model.transform(X)``, coloured by the true class."""
    rng = np.random.default_rng(0)
    if X.shape[0] > _LATENT_POINTS:
        index = rng.choice(X.shape[0], _LATENT_POINTS, replace=False)
        X, y = X[index], y[index]
    Z = PCA(n_components=2, random_state=0).fit_transform(model.transform(X))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.8))
    classes = np.unique(y)
    cmap = plt.get_cmap("tab10" if classes.size <= 10 else "tab20")
    for i, label in enumerate(classes):
        mask = y == label
        ax.scatter(*Z[mask].T, s=4, color=cmap(i % cmap.N), label=str(label))
    ax.legend(
        markerscale=3,
        fontsize=7,
        title="class",
        loc="upper left",
        bbox_to_anchor=(1, 1),
    )
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"{dataset}: GMVAE embedding (transform, PCA)")
    file_name = f"latent_{dataset}.png"
    return _save(fig, out, file_name, dpi=110)

"""
=============================================
Comparison with K-Means and Gaussian mixtures
=============================================

:class:`~sklearn.cluster.KMeans` and
:class:`~sklearn.mixture.GaussianMixture` cluster the data in the space of
its features. :class:`~skgmvae.GMVAEClustering` fits a Gaussian mixture in
a learned latent space and a decoder from that space to the data. This
example runs the three on the digits, scores each clustering against the
true digits, and shows the cluster "centres" of each method as images.

The comparison is deliberately small: one data set, one seed, and a short
training of a small GMVAE (``hidden_layer_sizes=(256,)``,
``pretrain_iter=20``, ``max_iter=30``) for build speed.
The :doc:`/benchmarks` page compares the methods over several seeds and
data sets with the full settings.
"""

# %%
# Fit the three models
# --------------------
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import MinMaxScaler

from skgmvae import GMVAEClustering
from skgmvae.metrics import cluster_accuracy

digits = load_digits()
X = MinMaxScaler().fit_transform(digits.data)
y = digits.target

models = {
    "KMeans": KMeans(n_clusters=10, n_init=10, random_state=0),
    "GaussianMixture (diag)": GaussianMixture(
        n_components=10, covariance_type="diag", random_state=0
    ),
    "GMVAEClustering": GMVAEClustering(
        n_clusters=10,
        hidden_layer_sizes=(256,),
        pretrain_iter=20,
        max_iter=30,
        random_state=0,
    ),
}
labels, seconds = {}, {}
for name, model in models.items():
    tic = time.perf_counter()
    labels[name] = model.fit_predict(X)
    seconds[name] = time.perf_counter() - tic

# %%
# Scores against the true digits
# ------------------------------
# All three scores are 1 for a clustering that matches the digits up to a
# renaming of the clusters. The times are those of this build and depend
# on the machine.
scores = {
    "ARI": adjusted_rand_score,
    "NMI": normalized_mutual_info_score,
    "ACC": cluster_accuracy,
}
print(f"{'':24s}" + "".join(f"{s:>8s}" for s in scores) + f"{'time (s)':>10s}")
for name in models:
    row = "".join(f"{f(y, labels[name]):8.3f}" for f in scores.values())
    print(f"{name:24s}{row}{seconds[name]:10.1f}")

fig, ax = plt.subplots(figsize=(7, 3.5))
width = 0.25
for i, name in enumerate(models):
    values = [f(y, labels[name]) for f in scores.values()]
    ax.bar(np.arange(len(scores)) + (i - 1) * width, values, width, label=name)
ax.set_xticks(np.arange(len(scores)), list(scores))
ax.set_ylim(0, 1)
ax.set_ylabel("score")
ax.legend(loc="lower right", fontsize=8)
ax.set_title("Agreement with the true digits (one seed)")
fig.tight_layout()

# %%
# What the clusters look like
# ---------------------------
# For K-Means and the Gaussian mixture a cluster's centre is the mean of
# its component, an image. The GMVAE's clusters live in the latent space;
# the images shown for it are the means of the samples (about 100 per
# cluster) generated with :meth:`~skgmvae.GMVAEClustering.sample`. Within
# each row the clusters are sorted by the digit that most of their
# training images show.
gmvae = models["GMVAEClustering"]
X_new, y_new = gmvae.sample(1000)
centres = {
    "KMeans": models["KMeans"].cluster_centers_,
    "GaussianMixture (diag)": models["GaussianMixture (diag)"].means_,
    "GMVAEClustering": np.array(
        [
            X_new[y_new == k].mean(axis=0) if np.any(y_new == k) else np.zeros(64)
            for k in range(10)
        ]
    ),
}
fig, axes = plt.subplots(3, 10, figsize=(9, 3.2))
for row, name in zip(axes, models, strict=True):
    majority = [
        np.bincount(y[labels[name] == k], minlength=10).argmax()
        if np.any(labels[name] == k)
        else 10
        for k in range(10)
    ]
    for ax, k in zip(row, np.argsort(majority, kind="stable"), strict=True):
        ax.imshow(centres[name][k].reshape(8, 8), cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(name.split(" ")[0], fontsize=8, rotation=0, ha="right")
fig.suptitle("Cluster centres, ordered by majority digit")
fig.tight_layout()
plt.show()

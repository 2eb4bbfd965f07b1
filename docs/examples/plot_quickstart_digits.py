"""
====================================
Quick start: clustering digit images
====================================

This example clusters the 8x8 handwritten digits that ship with
scikit-learn into ten groups with :class:`~skgmvae.GMVAEClustering`, looks
at what each cluster contains, compares the clusters with the true digits,
and plots how training went.

The model is trained with a small network for a few epochs so that the
example runs in seconds (``hidden_layer_sizes=(256,)``,
``pretrain_iter=20``, ``max_iter=30``); the defaults train a larger network
for longer.
"""

# %%
# Load and scale the data
# -----------------------
# The pixels take values from 0 to 16. Scaled to [0, 1] they suit the
# Bernoulli likelihood, which ``likelihood="auto"`` then picks.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.preprocessing import MinMaxScaler

from skgmvae import GMVAEClustering
from skgmvae.metrics import cluster_accuracy

digits = load_digits()
X = MinMaxScaler().fit_transform(digits.data)
y = digits.target
print(X.shape, X.min(), X.max())

# %%
# Fit the model
# -------------
# ``fit_predict`` trains the model and returns the cluster of every image.
model = GMVAEClustering(
    n_clusters=10,
    hidden_layer_sizes=(256,),
    pretrain_iter=20,
    max_iter=30,
    random_state=0,
)
labels = model.fit_predict(X)
print(f"likelihood: {model.likelihood_}, epochs: {model.n_iter_}")
print(f"ELBO per sample: {model.lower_bound_:.2f} nats")
print("cluster sizes:", np.bincount(labels, minlength=10))

# %%
# Compare with the true digits
# ----------------------------
# Cluster numbers are arbitrary, so the comparison uses scores that do not
# depend on them: the adjusted Rand index, the normalized mutual
# information, and the clustering accuracy, which matches each cluster to
# one digit with the Hungarian algorithm.
print(f"ARI: {adjusted_rand_score(y, labels):.3f}")
print(f"NMI: {normalized_mutual_info_score(y, labels):.3f}")
print(f"ACC: {cluster_accuracy(y, labels):.3f}")

# %%
# The contingency table shows which digits end up in which cluster. The
# clusters are ordered by the digit most of their images show.
table = contingency_matrix(y, labels)
order = np.argsort(table.argmax(axis=0), kind="stable")
fig, ax = plt.subplots(figsize=(6, 5))
im = ax.imshow(table[:, order], cmap="Blues")
ax.set_xticks(range(10), order)
ax.set_yticks(range(10))
ax.set_xlabel("cluster")
ax.set_ylabel("true digit")
for i in range(10):
    for j in range(10):
        count = table[i, order[j]]
        if count:
            color = "white" if count > table.max() / 2 else "black"
            ax.text(j, i, count, ha="center", va="center", fontsize=7, color=color)
fig.colorbar(im, ax=ax, label="images")
ax.set_title("Digits per cluster")
fig.tight_layout()

# %%
# What the clusters contain
# -------------------------
# Each row shows ten images that the model assigns to one cluster, with the
# confidence ``predict_proba`` gives to that assignment.
proba = model.predict_proba(X)
rng = np.random.default_rng(0)
fig, axes = plt.subplots(10, 10, figsize=(7, 7.5))
for row, cluster in enumerate(order):
    members = np.flatnonzero(labels == cluster)
    shown = rng.choice(members, size=min(10, members.size), replace=False)
    for col, ax in enumerate(axes[row]):
        ax.set_axis_off()
        if col < shown.size:
            ax.imshow(X[shown[col]].reshape(8, 8), cmap="gray_r")
            ax.set_title(f"{proba[shown[col], cluster]:.2f}", fontsize=6, pad=1)
    axes[row, 0].text(
        -3, 3.5, f"cluster {cluster}", ha="right", va="center", fontsize=8
    )
fig.suptitle("Ten images per cluster, with q(y | x)")
# sphinx_gallery_thumbnail_number = 2
fig.subplots_adjust(left=0.15, hspace=0.5)

# %%
# How training went
# -----------------
# ``history_`` records, after every epoch of training (the warm-up not
# included), the training loss, the three terms of the negative ELBO and
# the Gumbel-Softmax temperature. The training loss, also in
# ``loss_curve_``, is the negative ELBO plus the neighbour consistency and
# balance terms, so the gap between those two curves is the part of the
# neighbour terms. The reconstruction term dominates the ELBO; the latent
# term measures how far the encodings are from their cluster's Gaussian,
# and the cluster term how confident the assignments are (at most
# log 10 = 2.3 nats).
history = model.history_
epochs = np.arange(1, len(history) + 1)
negative_elbo = [h["reconstruction"] + h["kl_z"] + h["kl_y"] for h in history]
fig, axes = plt.subplots(1, 3, figsize=(10, 3))
axes[0].plot(epochs, model.loss_curve_, label="training loss")
axes[0].plot(epochs, negative_elbo, label="negative ELBO")
axes[0].plot(epochs, [h["reconstruction"] for h in history], label="reconstruction")
axes[0].set_ylabel("nats per sample")
axes[0].legend()
axes[1].plot(epochs, [h["kl_z"] for h in history], label="latent term")
axes[1].plot(epochs, [h["kl_y"] for h in history], label="cluster term")
axes[1].legend()
axes[2].plot(epochs, [h["temperature"] for h in history])
axes[2].set_ylabel("temperature")
for ax in axes:
    ax.set_xlabel("epoch")
fig.tight_layout()
plt.show()

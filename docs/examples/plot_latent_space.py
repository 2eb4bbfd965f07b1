"""
==================================
The latent space in two dimensions
==================================

:meth:`~skgmvae.GMVAEClustering.transform` embeds each sample as the
posterior mean of its latent vector, :math:`E_q[z \\mid x]`. During
training the latent term of the ELBO pulls every encoding towards the
Gaussian of its cluster, so the clusters become compact groups in this
space. This example projects the embedding of the digits onto its first
two principal components and compares it with the same projection of the
raw pixels. The embedding has ``latent_dim`` dimensions, 10 by default.

For build speed the model is small and briefly trained
(``hidden_layer_sizes=(256,)``, ``pretrain_iter=20``, ``max_iter=30``).
"""

# %%
# Fit the model and embed the data
# --------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler

from skgmvae import GMVAEClustering

digits = load_digits()
X = MinMaxScaler().fit_transform(digits.data)
y = digits.target
model = GMVAEClustering(
    n_clusters=10,
    hidden_layer_sizes=(256,),
    pretrain_iter=20,
    max_iter=30,
    random_state=0,
).fit(X)

Z = model.transform(X)
print("embedding:", Z.shape)
print("feature names:", model.get_feature_names_out()[:3], "...")

# %%
# Project to two dimensions
# -------------------------
# PCA keeps the two directions of largest variance. The same projection is
# applied to the raw pixels for comparison.
Z_2d = PCA(n_components=2).fit_transform(Z)
X_2d = PCA(n_components=2).fit_transform(X)

# %%
# Plot the projections
# --------------------
# Left: the raw pixels, coloured by the true digit. Middle: the GMVAE
# embedding, coloured by the true digit. Right: the same embedding,
# coloured by the model's cluster, with the projected cluster centres
# (the posterior means averaged over each cluster's members) marked with
# their numbers. Only two of the ten latent dimensions are shown, so
# clusters that overlap here may still be apart in the others.
labels = model.labels_
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
panels = [
    (axes[0], X_2d, y, "pixels, true digits"),
    (axes[1], Z_2d, y, "GMVAE embedding, true digits"),
    (axes[2], Z_2d, labels, "GMVAE embedding, clusters"),
]
for ax, points, colour, title in panels:
    ax.scatter(points[:, 0], points[:, 1], c=colour, cmap="tab10", s=6, alpha=0.7)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
for cluster in np.unique(labels):
    centre = Z_2d[labels == cluster].mean(axis=0)
    axes[2].annotate(
        str(cluster),
        centre,
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        bbox={"boxstyle": "circle", "fc": "white", "alpha": 0.8},
    )
fig.tight_layout()

# %%
# Confidence of the assignments
# -----------------------------
# ``predict_proba`` gives :math:`q(y \mid x)`. Colouring the embedding by
# the largest cluster probability shows where the model hesitates between
# clusters; compare with the clusters in the figure above.
confidence = model.predict_proba(X).max(axis=1)
fig, ax = plt.subplots(figsize=(5.5, 4.5))
points = ax.scatter(
    Z_2d[:, 0], Z_2d[:, 1], c=confidence, cmap="viridis", s=6, vmin=0, vmax=1
)
fig.colorbar(points, ax=ax, label="max_k q(y = k | x)")
ax.set_title("Confidence of the cluster assignment")
ax.set_xticks([])
ax.set_yticks([])
fig.tight_layout()
plt.show()

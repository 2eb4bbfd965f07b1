"""
=================================
Generating new samples by cluster
=================================

:class:`~skgmvae.GMVAEClustering` is a generative model: each cluster is a
Gaussian in the latent space, and the decoder turns latent points into
data. :meth:`~skgmvae.GMVAEClustering.sample` draws a cluster, a latent
point from that cluster's Gaussian and returns the decoded mean, so
sampling shows what the model has learned each cluster to look like. This
example generates digit images cluster by cluster and sets them beside real
images of the same clusters.

For build speed the model is small and briefly trained
(``hidden_layer_sizes=(256,)``, ``pretrain_iter=20``, ``max_iter=30``);
longer training gives sharper samples.
"""

# %%
# Fit the model
# -------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import MinMaxScaler

from skgmvae import GMVAEClustering

digits = load_digits()
X = MinMaxScaler().fit_transform(digits.data)
model = GMVAEClustering(
    n_clusters=10,
    hidden_layer_sizes=(256,),
    pretrain_iter=20,
    max_iter=30,
    random_state=0,
).fit(X)

# %%
# Draw samples
# ------------
# ``sample`` returns the generated images and the cluster each one was
# drawn from. Clusters are drawn from the mixture weights ``weights_``
# (close to equal here, as the digits' classes are), so ask for enough
# samples in one call to get several per cluster. (With an integer
# ``random_state``, repeated calls return the same draws.) With the
# Bernoulli likelihood the images are pixel probabilities in [0, 1].
X_new, y_new = model.sample(400)
print(X_new.shape, y_new.shape)
print("samples per cluster:", np.bincount(y_new, minlength=10))

# %%
# Generated and real images, cluster by cluster
# ---------------------------------------------
# In each row, the six images on the left are generated from one cluster;
# the four on the right are training images the model assigns to that
# cluster. Generated images are smoother than real ones because they are
# the decoder's mean, without pixel noise.
n_generated, n_real = 6, 4
rng = np.random.default_rng(0)
fig, axes = plt.subplots(10, n_generated + n_real, figsize=(7, 7.5))
for cluster, row in enumerate(axes):
    generated = X_new[y_new == cluster][:n_generated]
    members = np.flatnonzero(model.labels_ == cluster)
    real = X[rng.choice(members, size=min(n_real, members.size), replace=False)]
    images = list(generated) + [None] * (n_generated - len(generated)) + list(real)
    for ax, image in zip(row, images, strict=False):
        ax.set_axis_off()
        if image is not None:
            ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    row[0].text(-3, 3.5, f"cluster {cluster}", ha="right", va="center", fontsize=8)
axes[0, n_generated // 2].set_title("generated", fontsize=9, loc="left")
axes[0, n_generated + 1].set_title("real", fontsize=9)
fig.subplots_adjust(left=0.15, wspace=0.1, hspace=0.1)

# %%
# Average generated image per cluster
# -----------------------------------
# Averaging the generated images of a cluster gives its typical shape,
# much like the cluster centres of K-Means, but computed from the
# generative model rather than from the training images.
fig, axes = plt.subplots(1, 10, figsize=(9, 1.4))
for cluster, ax in enumerate(axes):
    ax.imshow(X_new[y_new == cluster].mean(axis=0).reshape(8, 8), cmap="gray_r")
    ax.set_title(f"{cluster}", fontsize=9)
    ax.set_axis_off()
fig.suptitle("Mean generated image of each cluster", y=1.05)
plt.show()

"""
===================================================
Pipelines and choosing n_clusters with GridSearchCV
===================================================

:class:`~skgmvae.GMVAEClustering` is a scikit-learn estimator, so it goes
into a :class:`~sklearn.pipeline.Pipeline` after its scaler, and
:class:`~sklearn.model_selection.GridSearchCV` can tune it. Its ``score``
method returns the evidence lower bound (ELBO) per sample, which grid
search uses when no other ``scoring`` is given. This example searches the
number of clusters on the digits data twice over: by held-out ELBO, which
needs no labels, and by clustering accuracy against the true digits, which
does.

For build speed the example uses half of the digits, a small network
(``hidden_layer_sizes=(128,)``, ``latent_dim=8``), short training
(``pretrain_iter=20``, ``max_iter=20``) and 2-fold cross-validation. With
only 450 training images per fold, ``batch_size=32`` gives each epoch
enough optimiser steps.
"""

# %%
# A pipeline: scaler, then model
# ------------------------------
# ``MinMaxScaler(clip=True)`` maps the pixels to [0, 1] and clips values of
# new data that fall outside the training range, as the Bernoulli
# likelihood requires.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skgmvae import GMVAEClustering
from skgmvae.metrics import cluster_accuracy

X, y = load_digits(return_X_y=True)
X, y = X[::2], y[::2]

pipe = make_pipeline(
    MinMaxScaler(clip=True),
    GMVAEClustering(
        likelihood="bernoulli",
        hidden_layer_sizes=(128,),
        latent_dim=8,
        pretrain_iter=20,
        max_iter=20,
        batch_size=32,
        random_state=0,
    ),
)
print(pipe)

# %%
# Two scores for each candidate
# -----------------------------
# ``elbo`` calls the pipeline's ``score``: the mean ELBO of the held-out
# fold under the model fitted on the other fold. ``accuracy`` wraps
# :func:`skgmvae.metrics.cluster_accuracy` with
# :func:`~sklearn.metrics.make_scorer`, which compares ``predict`` with the
# true digits passed to ``fit`` as ``y``.


def elbo(estimator, X, y=None):
    """Mean held-out ELBO per sample (higher is better)."""
    return estimator.score(X)


search = GridSearchCV(
    pipe,
    param_grid={"gmvaeclustering__n_clusters": [5, 10, 15]},
    scoring={"elbo": elbo, "accuracy": make_scorer(cluster_accuracy)},
    refit="elbo",
    cv=KFold(n_splits=2, shuffle=True, random_state=0),
)
search.fit(X, y)
print("best by ELBO:", search.best_params_)

# %%
# Compare the candidates
# ----------------------
# The ELBO measures how well each model explains unseen images; the
# accuracy how well its clusters match the ten digits. Both are averages
# over the two folds, with the spread between folds as error bars. The two
# criteria need not agree: the ELBO rewards any structure that makes the
# images more probable, whether or not it follows the digit classes.
results = search.cv_results_
n_clusters = results["param_gmvaeclustering__n_clusters"].data.astype(int)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, name, label in [
    (axes[0], "elbo", "held-out ELBO (nats per image)"),
    (axes[1], "accuracy", "clustering accuracy"),
]:
    ax.errorbar(
        n_clusters,
        results[f"mean_test_{name}"],
        yerr=results[f"std_test_{name}"],
        marker="o",
        capsize=4,
    )
    ax.set_xlabel("n_clusters")
    ax.set_ylabel(label)
    ax.set_xticks(n_clusters)
fig.tight_layout()

for k, e, a in zip(
    n_clusters, results["mean_test_elbo"], results["mean_test_accuracy"], strict=True
):
    print(f"n_clusters={k:2d}  ELBO={e:8.2f}  accuracy={a:.3f}")

# %%
# Use the refitted pipeline
# -------------------------
# ``GridSearchCV`` refits the best pipeline on all the data. It scales new
# data and predicts their clusters in one call.
best = search.best_estimator_
print("clusters of the first ten images:", best.predict(X[:10]))
print("their digits:                    ", y[:10])
print("cluster sizes:", np.bincount(best[-1].labels_))
plt.show()

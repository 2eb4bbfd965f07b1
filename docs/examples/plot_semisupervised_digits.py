"""
===========================================
Classifying digits from 50 labels (M2)
===========================================

:class:`~skgmvae.GMVAEClassifier` learns from labelled and unlabelled rows
together: ``y`` holds the class of the labelled rows and ``-1`` for the
others. Here 50 of the 1,797 digits keep their label (5 per class). The
example compares the classifier with the same model trained on the 50
labelled rows alone and with scikit-learn's
:class:`~sklearn.semi_supervised.LabelSpreading`, then draws new images of
chosen classes.

For build speed the models are small and briefly trained
(``hidden_layer_sizes=(256,)``, ``pretrain_iter=20``, ``max_iter=20``);
the defaults classify better (see the user guide's page on
semi-supervised classification).
"""

# %%
# Hide all but 5 labels per class
# -------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.semi_supervised import LabelSpreading

from skgmvae import GMVAEClassifier

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities in [0, 1]
rng = np.random.RandomState(0)
labelled = np.concatenate(
    [rng.choice(np.flatnonzero(y == digit), 5, replace=False) for digit in range(10)]
)
y_partial = np.full_like(y, -1)
y_partial[labelled] = y[labelled]
hidden = y_partial == -1
print(f"{(~hidden).sum()} labelled rows, {hidden.sum()} unlabelled")

# %%
# Three ways to use the labels
# ----------------------------
# Accuracy is measured on the rows whose label was hidden.
small = dict(hidden_layer_sizes=(256,), pretrain_iter=20, max_iter=20, random_state=0)
semi = GMVAEClassifier(**small).fit(X, y_partial)
alone = GMVAEClassifier(**small).fit(X[~hidden], y[~hidden])
spreading = LabelSpreading(kernel="knn", n_neighbors=10).fit(X, y_partial)

scores = {
    "GMVAEClassifier,\nlabelled + unlabelled": semi.score(X[hidden], y[hidden]),
    "GMVAEClassifier,\nlabelled rows only": alone.score(X[hidden], y[hidden]),
    "LabelSpreading": spreading.score(X[hidden], y[hidden]),
}
for name, score in scores.items():
    print(f"{name.replace(chr(10), ' ')}: {score:.3f}")

fig, ax = plt.subplots(figsize=(6, 2.2))
ax.barh(list(scores), list(scores.values()), color=["C0", "C7", "C1"])
ax.set_xlim(0, 1)
ax.set_xlabel("accuracy on the unlabelled digits")
ax.invert_yaxis()
fig.tight_layout()

# %%
# Images of a chosen class
# ------------------------
# ``sample(n, y=c)`` draws latent points from class ``c``'s Gaussian and
# decodes them: the model generates digits of the class asked for.
fig, axes = plt.subplots(10, 8, figsize=(5, 6.5))
for digit, row in enumerate(axes):
    images, _ = semi.sample(len(row), y=digit)
    for ax, image in zip(row, images, strict=True):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_axis_off()
    row[0].text(-3, 3.5, str(digit), ha="right", va="center")
fig.suptitle("Generated images, one class per row")
plt.show()

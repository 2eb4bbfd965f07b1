"""Behaviour of GMVAEClassifier, the semi-supervised M2 model."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skgmvae import GMVAEClassifier, GMVAEClustering
from skgmvae._graph import spread_labels
from skgmvae._initialization import match_to_classes
from skgmvae._losses import negative_elbo
from skgmvae._module import GMVAE

pytestmark = [
    pytest.mark.filterwarnings("error"),
    # Tiny configurations stop at max_iter on purpose.
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


def _model(fast, **params) -> GMVAEClassifier:
    return GMVAEClassifier(**{**fast, "random_state": 0, **params})


def _few_labels(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """``y`` with all but ``per_class`` rows of each class set to -1."""
    rng = np.random.RandomState(seed)
    keep = np.concatenate(
        [
            rng.choice(np.flatnonzero(y == c), per_class, replace=False)
            for c in np.unique(y)
        ]
    )
    partial = np.full_like(y, -1)
    partial[keep] = y[keep]
    return partial


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.fixture(scope="module")
def semi_supervised(digits):
    """A default-sized model fitted on 600 digits with 5 labels per class."""
    X, y = digits
    partial = _few_labels(y, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GMVAEClassifier(
            pretrain_iter=20, max_iter=20, device="cpu", random_state=0
        ).fit(X, partial)
    return model, X, y, partial


# --------------------------------------------------------------- learning
def test_few_labels_classify_the_unlabelled_rows(semi_supervised):
    model, X, y, partial = semi_supervised
    unlabelled = partial == -1
    accuracy = (model.predict(X[unlabelled]) == y[unlabelled]).mean()
    assert accuracy > 0.85
    np.testing.assert_array_equal(model.transduction_, model.predict(X))
    np.testing.assert_array_equal(model.classes_, np.arange(10))


def test_unlabelled_rows_help_over_the_labelled_ones_alone(semi_supervised, fast):
    model, X, y, partial = semi_supervised
    labelled = partial != -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        alone = GMVAEClassifier(
            pretrain_iter=20, max_iter=20, device="cpu", random_state=0
        ).fit(X[labelled], y[labelled])
    rest = ~labelled
    semi = (model.predict(X[rest]) == y[rest]).mean()
    supervised = (alone.predict(X[rest]) == y[rest]).mean()
    assert semi > supervised + 0.05


def test_outputs_and_score(semi_supervised):
    model, X, y, _ = semi_supervised
    proba = model.predict_proba(X[:5])
    assert proba.shape == (5, 10)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert model.score(X, y) == pytest.approx((model.predict(X) == y).mean())
    assert model.transform(X[:5]).shape == (5, model.latent_dim)
    assert np.isfinite(model.score_samples(X[:5])).all()
    assert "classification" in model.history_[0]


def test_class_conditional_samples(semi_supervised):
    model, X, *_ = semi_supervised
    X_new, y_new = model.sample(6, y=3)
    assert X_new.shape == (6, X.shape[1])
    np.testing.assert_array_equal(y_new, np.full(6, 3))
    _, y_each = model.sample(3, y=[1, 2, 1])
    np.testing.assert_array_equal(y_each, [1, 2, 1])
    _, y_drawn = model.sample(50)
    assert set(y_drawn) <= set(model.classes_)
    with pytest.raises(ValueError, match="not in classes_"):
        model.sample(2, y=11)
    with pytest.raises(ValueError, match="one per sample"):
        model.sample(3, y=[1, 2])
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(0, y=1)


def test_fully_labelled_string_classes(fast):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = _model(fast, max_iter=10, pretrain_iter=10).fit(X, names)
    np.testing.assert_array_equal(model.classes_, np.unique(names))
    assert set(model.predict(X)) <= set(names)
    assert model.predict(X).dtype == names.dtype


def test_same_seed_same_predictions(digits, fast):
    X, y = digits
    partial = _few_labels(y, 3)
    first = _model(fast).fit(X, partial)
    second = _model(fast).fit(X, partial)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))


def test_pickle_round_trip(semi_supervised):
    model, X, *_ = semi_supervised
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_pipeline_and_grid_search(fast):
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), _model(fast))
    grid = GridSearchCV(pipe, {"gmvaeclassifier__latent_dim": [2, 4]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["gmvaeclassifier__latent_dim"] in (2, 4)
    assert 0.0 <= grid.best_score_ <= 1.0


def test_warm_start_continues_on_known_classes(digits, fast):
    X, y = digits
    model = _model(fast, warm_start=True).fit(X, _few_labels(y, 3))
    steps = model.n_steps_
    model.fit(X, _few_labels(y, 3, seed=1))
    assert model.n_steps_ > steps
    with pytest.raises(ValueError, match="not in classes_"):
        model.fit(X, np.where(y == 0, 12, y))


def test_clustering_ignores_y(digits, fast):
    X, y = digits
    params = {**fast, "n_clusters": 4, "random_state": 0}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Only", UserWarning)
        plain = GMVAEClustering(**params).fit(X)
        with_y = GMVAEClustering(**params).fit(X, y)
    np.testing.assert_array_equal(plain.labels_, with_y.labels_)


# ----------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.full(150, -1), "GMVAEClustering"),
        (np.r_[["a", "b"] * 50, ["-1"] * 50], "only numeric labels"),
        (np.r_[np.array(["a", "b"] * 50, dtype=object), [-1] * 50], "numeric"),
        (np.linspace(0, 1, 150), "Unknown label type"),
        (np.zeros(149), "inconsistent numbers of samples"),
        (None, "requires y"),
        (np.r_[np.zeros(100), np.ones(50)][:, None] * [1, 1], "y should be a 1d"),
    ],
)
def test_bad_labels_are_rejected_before_training(y, match, fast):
    X = load_iris().data
    with pytest.raises(ValueError, match=match):
        _model(fast).fit(X, y)


def test_minus_one_with_a_single_other_label_is_two_classes(fast):
    X, y = load_iris(return_X_y=True)
    binary = np.where(y == 0, 1, -1)
    with pytest.warns(UserWarning, match="-1 is read as a class"):
        model = _model(fast).fit(X, binary)
    np.testing.assert_array_equal(model.classes_, [-1, 1])


def test_unfitted_and_sparse_input(fast):
    with pytest.raises(NotFittedError):
        GMVAEClassifier().predict(np.zeros((2, 3)))
    X, y = load_iris(return_X_y=True)
    with pytest.raises(TypeError, match="[Ss]parse"):
        _model(fast).fit(sp.csr_matrix(X), y)


# ------------------------------------------------------------ the maths
def test_observed_rows_use_their_class_and_log_prior():
    torch.manual_seed(0)
    module = GMVAE(6, 3, 2, (8,), "gaussian")
    module.reset_parameters(torch.Generator().manual_seed(0))
    x = torch.randn(4, 6)
    observed = torch.tensor([2, -1, 0, -1])

    def loss(logits):
        return negative_elbo(
            module,
            x,
            categorical="marginal",
            temperature=1.0,
            hard=False,
            generator=torch.Generator().manual_seed(1),
            qy_logits=logits,
            observed_y=observed,
        )

    first = loss(torch.zeros(4, 3))
    second = loss(torch.tensor([[5.0, -5.0, 0.0]] * 4))
    known = observed >= 0
    # Labelled rows: independent of q(y | x); kl_y is -log p(y) = log 3.
    torch.testing.assert_close(first.loss[known], second.loss[known])
    torch.testing.assert_close(
        first.terms["kl_y"][known], torch.full((2,), np.log(3.0))
    )
    # Unlabelled rows: still inferred.
    assert not torch.allclose(first.loss[~known], second.loss[~known])


def test_spread_labels_follows_the_graph():
    # Two triangles joined by nothing, one labelled node each, one isolated node.
    edges = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)]
    rows, cols = zip(*edges, strict=True)
    graph = sp.coo_matrix((np.ones(6), (rows, cols)), shape=(7, 7))
    graph = graph + graph.T
    classes = np.array([1, -1, -1, -1, 0, -1, -1])
    resp = spread_labels(graph, classes, 2)
    np.testing.assert_array_equal(resp[:6].argmax(1), [1, 1, 1, 0, 0, 0])
    np.testing.assert_allclose(resp[6], [0.5, 0.5])


def test_match_to_classes_renumbers_clusters():
    resp = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    classes = np.array([2, -1, 0, -1, -1, 1])
    matched = match_to_classes(resp, classes)
    np.testing.assert_array_equal(matched.argmax(1), [2, 2, 0, 0, 1, 1])

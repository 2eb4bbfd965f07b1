"""``GMVAEClassifier``: the GMVAE as a semi-supervised classifier (M2).

The class is glue around :class:`skgmvae._base.BaseGMVAE`: it turns ``y``
(class labels, -1 for unlabelled rows) into class indices, which the
warm-up and the objectives of :mod:`skgmvae._losses` use as observed values
of the categorical latent, and reports classes instead of clusters.
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from skgmvae._base import BaseGMVAE, check_n_samples
from skgmvae._fitting import (
    FitSettings,
    Run,
    TrainingData,
    cluster_probabilities,
    warn_not_converged,
)
from skgmvae._threads import limit_torch_threads
from skgmvae._warnings import warn

# The marker of an unlabelled row in y, as in sklearn.semi_supervised.
UNLABELLED = -1


class GMVAEClassifier(ClassifierMixin, BaseGMVAE):
    """Semi-supervised classification with a Gaussian Mixture VAE (the M2 model).

    The generative model of :class:`GMVAEClustering`, with the categorical
    latent ``y`` now the class: observed for the labelled rows and inferred
    by ``q(y | x)`` for the others (Kingma et al.'s M2 model). Unlabelled
    rows are trained on the ELBO with ``y`` summed out, labelled rows on the
    ELBO with ``y`` observed plus a cross-entropy term that teaches
    ``q(y | x)`` their class. A few labels and many unlabelled rows thus
    give a classifier that also models ``X``: ``predict_proba`` is
    ``q(y | x)``, ``transform`` the latent embedding and ``sample`` draws
    from a chosen class.

    As in :mod:`sklearn.semi_supervised`, ``y`` holds each row's class, or
    ``-1`` for an unlabelled row. Fully labelled data give a supervised
    generative classifier; string class labels work when every row is
    labelled.

    Parameters
    ----------
    classification_weight : float, default=0.1
        Weight, per input feature, of the cross-entropy ``-log q(y_i | x_i)``
        of each labelled row (the weight alpha of Kingma et al.). Where only
        some rows are labelled, each step also draws a quarter batch of
        labelled rows and adds their weighted mean cross-entropy, so that a
        handful of labels steers every step. Without this term ``q(y | x)``
        does not learn the classes. Set it to 0 to learn from the labels
        only through the ELBO and the start.

    latent_dim : int, default=10
        Dimension of the Gaussian latent ``z`` (and of ``transform``'s output).

    hidden_layer_sizes : tuple of int, default=(512, 512)
        Widths of the hidden ReLU layers of each encoder; the decoder uses
        them in reverse order.

    likelihood : {"auto", "bernoulli", "gaussian"}, default="auto"
        Observation model ``p(x | z)``: Bernoulli for values in [0, 1],
        Gaussian with a learned per-feature variance otherwise; ``"auto"``
        picks Bernoulli when all values of ``X`` lie in [0, 1].

    categorical : {"gumbel", "marginal"}, default="gumbel"
        How the ELBO of an unlabelled row handles ``y``: one Gumbel-Softmax
        sample per row and step, or an exact sum over the classes.

    conditional_encoder : bool, default=True
        Whether the encoder of ``z`` sees the class, ``q(z | x, y)``.

    init_params : {"graph", "gmm", "spectral", "random"}, default="graph"
        The start, as in :class:`GMVAEClustering`: an autoencoder warm-up,
        then clusters of its codes. Here the clusters are renumbered to
        match the labelled rows' classes one to one, and labelled rows start
        in their own class; with every row labelled, the classes are the
        start. ``"random"`` skips the warm-up.

    pretrain_iter : int, default=60
        Epochs of autoencoder training in the warm-up.

    hard_gumbel : bool, default=False
        Straight-through Gumbel-Softmax samples (one-hot forward).

    temperature_init : float, default=1.0
        Gumbel-Softmax temperature at the first step.

    temperature_min : float, default=0.5
        Lower bound of the temperature.

    temperature_halflife : float, default=2000
        Optimizer steps over which the temperature halves.

    max_iter : int, default=50
        Maximum number of epochs of ELBO training per initialisation.

    batch_size : int or "auto", default="auto"
        Mini-batch size, as in :class:`GMVAEClustering`.

    learning_rate_init : float, default=1e-3
        Adam's learning rate, as in :class:`GMVAEClustering`.

    reconstruction_weight, kl_z_weight, kl_y_weight : float, default=1.0
        Weights of the three terms of the negative ELBO.

    neighbor_weight : float, default=0.08
        Weight, per input feature, of the neighbour-consistency term on
        ``q(y | x)`` (see :class:`GMVAEClustering`): it carries the classes
        of labelled rows to their unlabelled neighbours.

    balance_weight : float, default=0.08
        Weight, per input feature, of ``KL(mean_batch q(y | x) || p(y))``.

    tol : float, default=0.05
        Largest fraction of the training rows that may change predicted
        class between two epochs for the later one to count as stable.

    n_iter_no_change : int, default=10
        Training stops after this many consecutive stable epochs.

    n_init : int, default=1
        Number of independent initialisations; the one with the best ELBO on
        the training data is kept.

    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Arithmetic of training, as in :class:`GMVAEClustering`.

    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``.

    random_state : int, RandomState instance or None, default=None
        Controls weight initialisation, mini-batch order and all sampling.

    verbose : int, default=0
        When positive, print each stage and one line per epoch.

    warm_start : bool, default=False
        When True and the estimator is fitted, ``fit`` continues training the
        existing model on the new data, whose labels must be among
        ``classes_``. Continued training keeps the network's shape:
        changing ``latent_dim``, ``hidden_layer_sizes`` or
        ``conditional_encoder`` in between raises a ``ValueError``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (the labels of ``y`` other than ``-1``).

    transduction_ : ndarray of shape (n_samples,)
        The predicted class of each training row, labelled or not, as
        ``LabelSpreading.transduction_``.

    n_iter_ : int
        Number of epochs run by the selected initialisation.

    converged_ : bool
        Whether training stopped because the predicted classes were stable.

    lower_bound_ : float
        Mean ELBO per training sample of the selected model, ``y`` summed
        out (nats).

    loss_curve_ : list of float
        Mean training loss per epoch: the negative ELBO plus the neighbour
        and classification terms.

    history_ : list of dict
        Per-epoch record, as :class:`GMVAEClustering`'s, with also
        ``classification``.

    n_steps_ : int
        Optimizer steps of ELBO training since the model was built.

    batch_size_ : int
        The mini-batch size used.

    weights_ : ndarray of shape (n_classes,)
        The class weights p(y): the sizes of the classes at the start of
        training (the known classes, spread to the unlabelled rows) plus
        one row each, normalised.

    means_ : ndarray of shape (n_classes, latent_dim)
        The mean of each class's Gaussian p(z | y).

    covariances_ : ndarray of shape (n_classes, latent_dim)
        The diagonal variances of each p(z | y).

    likelihood_ : str
        The observation model used, ``"bernoulli"`` or ``"gaussian"``.

    device_ : str
        The device the model was trained on.

    precision_ : {"float32", "bfloat16"}
        The arithmetic of training.

    module_ : torch.nn.Module
        The fitted GMVAE network.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    GMVAEClustering : The same model without labels.
    sklearn.semi_supervised.LabelSpreading : Graph-based semi-supervised
        classification.
    sklearn.semi_supervised.SelfTrainingClassifier : Self-training around
        any probabilistic classifier.

    Notes
    -----
    Kingma, Rezende, Mohamed and Welling, "Semi-Supervised Learning with
    Deep Generative Models" (NeurIPS 2014), model M2; the GMVAE's prior
    ``p(z | y)`` per class follows Rui Shu's GMVAE (2016).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_blobs
    >>> from skgmvae import GMVAEClassifier
    >>> X, y = make_blobs(n_samples=300, centers=3, random_state=0)
    >>> y_partial = np.full_like(y, -1)
    >>> y_partial[:30] = y[:30]  # 30 labelled rows, 270 unlabelled
    >>> model = GMVAEClassifier(random_state=0).fit(X, y_partial)
    >>> model.classes_
    array([0, 1, 2])
    >>> model.predict_proba(X[:2]).sum(axis=1).round(6)
    array([1., 1.])
    >>> X_new, y_new = model.sample(4, y=2)
    >>> y_new
    array([2, 2, 2, 2])
    """

    _parameter_constraints: dict = {
        "classification_weight": [Interval(Real, 0.0, None, closed="left")],
        **BaseGMVAE._parameter_constraints,
    }

    def __init__(
        self,
        *,
        classification_weight: float = 0.1,
        latent_dim: int = 10,
        hidden_layer_sizes: tuple[int, ...] = (512, 512),
        likelihood: str = "auto",
        categorical: str = "gumbel",
        conditional_encoder: bool = True,
        init_params: str = "graph",
        pretrain_iter: int = 60,
        hard_gumbel: bool = False,
        temperature_init: float = 1.0,
        temperature_min: float = 0.5,
        temperature_halflife: float = 2000,
        max_iter: int = 50,
        batch_size: int | str = "auto",
        learning_rate_init: float = 1e-3,
        reconstruction_weight: float = 1.0,
        kl_z_weight: float = 1.0,
        kl_y_weight: float = 1.0,
        neighbor_weight: float = 0.08,
        balance_weight: float = 0.08,
        tol: float = 0.05,
        n_iter_no_change: int = 10,
        n_init: int = 1,
        precision: str = "auto",
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
        warm_start: bool = False,
    ) -> None:
        self.classification_weight = classification_weight
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.likelihood = likelihood
        self.categorical = categorical
        self.conditional_encoder = conditional_encoder
        self.init_params = init_params
        self.pretrain_iter = pretrain_iter
        self.hard_gumbel = hard_gumbel
        self.temperature_init = temperature_init
        self.temperature_min = temperature_min
        self.temperature_halflife = temperature_halflife
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.reconstruction_weight = reconstruction_weight
        self.kl_z_weight = kl_z_weight
        self.kl_y_weight = kl_y_weight
        self.neighbor_weight = neighbor_weight
        self.balance_weight = balance_weight
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.n_init = n_init
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    @limit_torch_threads(check_idle=True)
    def fit(self, X, y):
        """Train the model on ``X`` with the known classes in ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, labelled and unlabelled rows. Dense and numeric;
            see ``likelihood``.

        y : array-like of shape (n_samples,)
            The class of each row, or ``-1`` for an unlabelled row. At least
            one row must be labelled.

        Returns
        -------
        self : GMVAEClassifier
            The fitted estimator.
        """
        best, _, settings = self._fit(X, y)
        warn_not_converged(
            best.result, settings, "GMVAEClassifier", "predicted classes", "class"
        )
        return self

    # ---------------------------------------------------------- prediction
    def predict(self, X):
        """Most probable class of each sample, ``argmax_y q(y | x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Class labels, from ``classes_``.
        """
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    @limit_torch_threads
    def sample(self, n_samples: int = 1, y=None):
        """Generate samples from the fitted model, optionally of given classes.

        Draws ``y`` from ``p(y)`` (or takes the given classes), ``z`` from
        ``p(z | y)`` and returns the decoder's mean ``E[x | z]``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        y : label or array-like of shape (n_samples,), default=None
            The class of every sample (one label), or of each sample; None
            draws the classes from ``p(y)``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Generated samples.

        y : ndarray of shape (n_samples,)
            The class each sample was drawn from.
        """
        check_is_fitted(self)
        check_n_samples(n_samples)
        index = None
        if y is not None:
            index = self._class_indices(y, n_samples)
        X, drawn = self._draw(n_samples, index)
        return X, self.classes_[drawn]

    # ---------------------------------------------------------------- hooks
    @property
    def _n_clusters(self) -> int:
        return len(self.classes_)

    def _fit_settings(self) -> FitSettings:
        return replace(
            super()._fit_settings(), classification_weight=self.classification_weight
        )

    def _encode_labels(self, y, *, first: bool) -> np.ndarray:
        """Class indices of ``y`` (-1 unlabelled); sets ``classes_`` when
        ``first``, else checks the labels against it."""
        if y is None:
            raise ValueError(
                "GMVAEClassifier requires y to be passed, but the target y is "
                "None. Pass -1 for unlabelled rows; without any labels, use "
                "GMVAEClustering."
            )
        unlabelled = _unlabelled_rows(y)  # before sorting mixed types fails
        check_classification_targets(y)
        if unlabelled.any() and _minus_one_is_a_class(y, unlabelled, first, self):
            unlabelled[:] = False
        if unlabelled.all():
            raise ValueError(
                "Every row of y is -1 (unlabelled): a classifier needs at least "
                "one labelled row per class. To find groups without labels, use "
                "GMVAEClustering."
            )
        labelled = y[~unlabelled]
        if first:
            classes = np.unique(labelled)
            if classes.size < 2:
                raise ValueError(
                    f"y holds a single class ({classes[0]!r}) among its labelled "
                    "rows; a classifier needs at least two classes."
                )
            self.classes_ = classes
        index = np.full(y.shape[0], UNLABELLED, dtype=np.int64)
        index[~unlabelled] = self._known_class_indices(
            labelled,
            "; with warm_start the model can only be trained further on the "
            "classes it was fitted on",
        )
        return index

    def _assign_clusters(self, run: Run, data: TrainingData, *, renumber: bool):
        """``transduction_``: the predicted class of every training row."""
        proba = cluster_probabilities(run.module, data.X_t)
        self.transduction_ = self.classes_[proba.argmax(1).numpy()]

    def _class_indices(self, y, n_samples: int) -> np.ndarray:
        """Indices into ``classes_`` of the requested classes, one per sample."""
        y = np.asarray(y)
        if y.ndim == 0:
            y = np.full(n_samples, y)
        if y.shape != (n_samples,):
            raise ValueError(
                f"y must be one class label or one per sample; got shape "
                f"{y.shape} for n_samples={n_samples}."
            )
        return self._known_class_indices(y)

    def _known_class_indices(self, labels: np.ndarray, why: str = "") -> np.ndarray:
        """Indices into ``classes_`` of ``labels``; an error names any label
        not in ``classes_`` (``why`` says what that prevents)."""
        unknown = np.setdiff1d(labels, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y holds labels {unknown.tolist()} that are not in classes_="
                f"{self.classes_.tolist()}{why}."
            )
        return np.searchsorted(self.classes_, labels)


def _unlabelled_rows(y: np.ndarray) -> np.ndarray:
    """Where ``y`` is the unlabelled marker -1; rejects -1 among strings.

    Numeric labels mark unlabelled rows with -1. Among string (or other
    non-numeric) labels, a -1 is ambiguous, so it is refused: every row
    must then be labelled.
    """
    if y.dtype.kind in "biuf":
        return y == UNLABELLED
    marked = np.array([value in (UNLABELLED, str(UNLABELLED)) for value in y])
    if marked.any():
        raise ValueError(
            "y holds non-numeric class labels together with -1: only numeric "
            "labels can mark unlabelled rows with -1. Encode the classes as "
            "integers (sklearn.preprocessing.LabelEncoder on the labelled "
            "rows) and mark unlabelled rows with -1."
        )
    return np.zeros(y.shape[0], dtype=bool)


def _minus_one_is_a_class(
    y: np.ndarray, unlabelled: np.ndarray, first: bool, model: GMVAEClassifier
) -> bool:
    """Whether -1 in ``y`` is a class label rather than the unlabelled marker.

    It is when the model was fitted with -1 among its classes, and, with a
    warning, when the labelled rows hold a single other class: semi-
    supervised training would need two, so ``y`` is read as the binary
    labels -1 and c, a common encoding of two classes.
    """
    if not first:
        return UNLABELLED in model.classes_
    others = np.unique(y[~unlabelled])
    if others.size != 1 or unlabelled.all():
        return False
    warn(
        f"y holds -1 and one other label, {others[0]!r}. Semi-supervised "
        "training needs at least two labelled classes, so -1 is read as a "
        f"class: the model learns the two classes -1 and {others[0]!r} from "
        "fully labelled rows. If -1 marks unlabelled rows, label rows of at "
        "least two classes.",
        UserWarning,
    )
    return True

"""``GMVAEClustering``: the GMVAE as a scikit-learn clusterer.

The class is glue around :class:`skgmvae._base.BaseGMVAE`, which owns the
fit loop and the prediction methods; here live the parameters, the
numbering of the clusters and ``partial_fit``.
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Integral

from sklearn.base import ClusterMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from skgmvae._base import BaseGMVAE
from skgmvae._fitting import (
    FitSettings,
    Run,
    TrainingData,
    cluster_probabilities,
    elbo_score,
    fresh_state,
    new_module,
    renumber_by_size,
    train_elbo,
    warm_up,
    warn_after_fit,
)
from skgmvae._tensors import make_generator
from skgmvae._threads import limit_torch_threads
from skgmvae._training import FixedEpochs
from skgmvae._warmup import WarmupResult

# Epochs at the start of ELBO training during which q(y | x) is held at the
# warm-up's clusters while q(z | x, y), the decoder and the priors adapt to
# them, as an EM step fits the components before it reassigns samples. The
# conditional encoder has only seen the uniform y of the warm-up; trained
# together with q(y | x) from the first step, it drifted for a cluster of a
# few dozen samples, whose samples then found a lower loss in a large
# cluster nearby and moved there for good (measurements in the user guide).
_ELBO_HOLD_EPOCHS = 1
# ... and at least this many optimizer steps: on small data an epoch is a
# few steps, too few for the priors to fit the clusters, and q(y | x)
# released after one such epoch joined clusters the warm-up had exactly.
# The user guide's model section says what this means for small data sets.
_ELBO_HOLD_STEPS = 100


class GMVAEClustering(ClusterMixin, BaseGMVAE):
    """Clustering with a Gaussian Mixture Variational Autoencoder (GMVAE).

    A deep generative model with a categorical latent ``y`` (the cluster), a
    Gaussian latent ``z`` whose prior mean and variance depend on ``y``, and
    a neural decoder ``p(x | z)``. An encoder ``q(y | x)`` gives the cluster
    probabilities and a second encoder ``q(z | x, y)`` the embedding. Both
    are trained by maximising the evidence lower bound (ELBO) with Adam.

    Parameters
    ----------
    n_clusters : int, default=10
        Number of clusters, the number of values of ``y``.

    latent_dim : int, default=10
        Dimension of the Gaussian latent ``z`` (and of ``transform``'s output).
        10 clustered better than smaller values on small images while
        keeping the network cheap; the reference GMVAE uses 64.

    hidden_layer_sizes : tuple of int, default=(512, 512)
        Widths of the hidden ReLU layers of each encoder; the decoder uses
        them in reverse order.

    likelihood : {"auto", "bernoulli", "gaussian"}, default="auto"
        Observation model ``p(x | z)``. ``"bernoulli"`` needs every value in
        [0, 1] (pixel intensities, scaled with ``MinMaxScaler``);
        ``"gaussian"`` suits real-valued data, ideally standardized.
        ``"auto"`` picks Bernoulli when all values of ``X`` lie in [0, 1]
        and Gaussian otherwise.

    categorical : {"gumbel", "marginal"}, default="gumbel"
        How the ELBO handles ``y``. ``"gumbel"`` draws one Gumbel-Softmax
        sample per data point and step; ``"marginal"`` sums exactly over all
        ``n_clusters`` values, costing about ``n_clusters`` times more per
        step for ``q(z | x, y)`` and the decoder.

    conditional_encoder : bool, default=True
        Whether the encoder of ``z`` sees the cluster: ``q(z | x, y)`` as in
        the reference GMVAE, or ``q(z | x)`` shared by all clusters. Without
        it, ``categorical="marginal"`` decodes once per sample instead of
        ``n_clusters`` times.

    init_params : {"graph", "gmm", "spectral", "random"}, default="graph"
        How the model is initialised before ELBO training. All but
        ``"random"`` first train the z-encoder and decoder as an autoencoder
        for ``pretrain_iter`` epochs, find initial clusters in its
        standardized codes, set the cluster priors ``p(z | y)`` from them and
        teach ``q(y | x)`` those clusters; the first ELBO epoch (and at
        least the first 100 optimizer steps) then holds ``q(y | x)`` there
        while the rest of the network adapts to them, so that a small
        cluster's samples are not drawn into a large one before its prior
        and encoder fit them. ``"graph"`` finds them with
        k-means on a ``n_clusters``-dimensional layout of the
        10-nearest-neighbour edges that the codes and the input share, laid
        out as UMAP does (McInnes et al., 2018; clustering such a layout of
        autoencoder codes is N2D, McConville et al., 2019). Of 10 k-means
        runs on each of two layouts (six on data of at most 10,000 samples,
        where layouts are cheap and more of them make a start that keeps a
        class in pieces less likely) and k-means on the codes, it keeps a
        partition into groups that no edge joins if there is one (so that
        small groups far from a large one are kept), and otherwise the one
        with the highest modularity on the graph (at resolution 0.5, which
        penalises clusters of unequal weight less than 1 does), unless a
        partition that most of the runs found ties it to within 0.0001,
        a difference below what one layout's random draws change. Where that
        partition cuts one group in two, as modularity tends to on data
        with a large class, the two clusters are joined and one cluster is
        split in their place: of the others and the joined pair, the one
        whose bisection cuts the fewest edges. Where the input itself looks
        like ``n_clusters`` Gaussian clouds (full-covariance Gaussian
        mixtures of it, each the better of two EM runs from k-means
        starts, mostly agree, and the
        Bayesian information criterion asks for no more components), the
        partition is then refined by EM of a Gaussian mixture of the
        input, of the covariance type (full, tied, diagonal or spherical)
        with the lowest BIC: a graph draws the border between two touching
        clouds where it is sparsest, not where the Gaussians meet; the
        warm-up's neighbour stage then leaves that partition as it is. It
        is the default because it clustered images much better than a Gaussian
        mixture of the codes (see the user guide's
        :ref:`warm-up <warm_up>` section and the benchmarks).
        ``"gmm"`` fits a diagonal ``GaussianMixture`` to the codes.
        ``"spectral"`` uses spectral clustering of the codes'
        10-nearest-neighbour graph. ``"random"`` starts ELBO training from
        random weights, as the reference GMVAE does; it often merges
        clusters.

    pretrain_iter : int, default=60
        Epochs of autoencoder training in the warm-up of every
        ``init_params`` but ``"random"``. The two warm-up stages that train
        ``q(y | x)``, on the initial clusters and then (with the neighbour
        terms on) on the neighbour terms, take ``min(pretrain_iter, 10)``
        epochs each; the first takes more where that is fewer than 300
        optimizer steps. The codes of a longer-trained autoencoder give a
        much better graph start on images.

    hard_gumbel : bool, default=False
        Use the straight-through estimator: one-hot samples forward, soft
        gradients backward. Only with ``categorical="gumbel"``.

    temperature_init : float, default=1.0
        Gumbel-Softmax temperature at the first step.

    temperature_min : float, default=0.5
        Lower bound of the temperature.

    temperature_halflife : float, default=2000
        Optimizer steps over which the temperature halves (until it reaches
        ``temperature_min``). Counted in steps, not epochs, so small data
        sets are annealed as fast per update as large ones.

    max_iter : int, default=50
        Maximum number of epochs (passes over the data) of ELBO training per
        initialisation, after the warm-up. A cap on the time of large fits;
        small data sets usually stop earlier on ``tol``.

    batch_size : int or "auto", default="auto"
        Mini-batch size; capped at the number of samples. ``"auto"`` uses 128
        rows below 10,000 samples, 256 from there and 512 from 50,000 on.
        Larger batches use the hardware better, but on a small data set an
        epoch then has too few updates and clusters worse. From 320 samples
        on, an epoch's ``ceil(n_samples / batch_size)`` batches are each a
        whole multiple of 32 rows (at most ``batch_size``) and the fewer
        than 32 rows left over sit that epoch out, which keeps the results
        independent of the number of threads (see the user guide).

    learning_rate_init : float, default=1e-3
        Adam's learning rate. Where ``latent_dim`` is below the number of
        features, the warm-up's autoencoder trains at twice this rate: in
        its fixed number of epochs it then reaches codes that cluster
        better (see the user guide).

    reconstruction_weight, kl_z_weight, kl_y_weight : float, default=1.0
        Weights of the three terms of the negative ELBO: the reconstruction
        ``-log p(x | z)``, the ``z`` term ``log q(z | x, y) - log p(z | y)``
        and ``KL(q(y | x) || p(y))``. All 1 gives the true ELBO.

    neighbor_weight : float, default=0.08
        Weight, per input feature, of a neighbour-consistency term added to
        the training loss: for each sample and one of its 10 nearest
        neighbours (drawn anew each step), ``-log sum_k q(k | x_i)
        q(k | x_j)``, which is small when both get the same cluster.
        Neighbours are found among the warm-up autoencoder's codes (where
        they share their sample's class more often than in the pixels of
        images), or in ``X`` with ``init_params="random"`` and
        ``warm_start``. The ELBO alone ignores which samples are close; this
        term carries that information into ``q(y | x)``, which clusters
        images clearly better. Set to 0 for the plain ELBO. The generative
        model, ``score`` and ``sample`` are unchanged.

    balance_weight : float, default=0.08
        Weight, per input feature, of ``KL(mean_batch q(y | x) || p(y))``,
        which keeps the neighbour term from merging clusters; ``p(y)`` holds
        the cluster sizes the warm-up found (see ``weights_``).

    tol : float, default=0.05
        Largest fraction of the training samples that may change cluster
        (``argmax_k q(y=k | x)``, as computed for each sample's mini-batch)
        between two epochs for the later one to count as stable. The loss of
        the stochastic objective keeps fluctuating long after the clusters
        have settled, so stopping watches the clusters, as k-means and DEC
        do; a few percent of samples near cluster boundaries flip back and
        forth from epoch to epoch even then, hence the default.

    n_iter_no_change : int, default=3
        Training stops (and ``converged_`` is True) after this many
        consecutive stable epochs. The clusters settle in the first ELBO
        epochs; waiting longer mostly trains the generative model further
        (see the user guide's timing notes).

    average_epochs : int, default=4
        After the ELBO stops (on ``tol`` or at ``max_iter``), train this many
        more epochs and keep the network's weights averaged over them and
        the last epoch before: stochastic weight averaging (Izmailov et al.,
        2018). From epoch to epoch the clusters still move a little around
        the boundaries; the average lands in the middle of those moves and
        clusters more accurately and steadily than any one epoch (see the
        user guide). 0 keeps the weights of the last epoch. Not used by
        ``partial_fit``.

    n_init : int, default=1
        Number of independent initialisations; the one with the best ELBO on
        the training data is kept.

    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Arithmetic of training. ``"bfloat16"`` runs the matrix products under
        bfloat16 autocast while weights, optimizer state and the loss's sums
        stay float32. ``"auto"`` chooses bfloat16 where it is faster: on a
        CUDA GPU with bfloat16 support, and on a CPU with AMX or AVX-512
        bfloat16 instructions when the mini-batches have at least 256 rows
        (by default from 10,000 samples on; with fewer rows the network is
        too small to gain); float32 elsewhere. It clustered as well as
        float32 in the benchmarks (see the user guide). The choice is in
        ``precision_``. Prediction, scoring and transform always use
        float32.

    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``.

    random_state : int, RandomState instance or None, default=None
        Controls weight initialisation, mini-batch order and all sampling.
        Pass an int for reproducible results: the same seed on the same
        device gives the same labels.

    verbose : int, default=0
        When positive, print progress: each stage by name (autoencoder,
        neighbour search, initial clusters, alignment, neighbours, ELBO),
        one line per epoch with its seconds and an estimate of the time
        left, and how long each stage without epochs took.

    warm_start : bool, default=False
        When True and the estimator is fitted, ``fit`` continues training the
        existing model (and its temperature schedule) instead of starting
        again; ``n_init`` is then ignored. ``partial_fit`` always continues
        a fitted model, whatever ``warm_start`` says. Continued training
        keeps the network's shape: changing ``n_clusters``, ``latent_dim``,
        ``hidden_layer_sizes`` or ``conditional_encoder`` in between raises
        a ``ValueError``. A continued call that raises leaves the fitted
        model as it was.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample, ``argmax_k q(y=k | x)``.

    n_iter_ : int
        Number of ELBO epochs run by the selected initialisation, the
        ``average_epochs`` included.

    converged_ : bool
        Whether the selected initialisation stopped because its clusters
        were stable (``tol``, ``n_iter_no_change``) before ``max_iter``.

    lower_bound_ : float
        Mean ELBO per training sample of the selected model (nats).

    loss_curve_ : list of float
        Mean training loss per epoch of the selected initialisation: the
        negative ELBO plus the neighbour and balance terms (when their
        weights are non-zero). ``lower_bound_`` and ``score`` are the ELBO
        alone.

    history_ : list of dict
        Per-epoch record of the selected initialisation: ``loss``, the ELBO
        terms ``reconstruction``, ``kl_z`` and ``kl_y`` (unweighted), with the
        neighbour terms on also ``consistency`` and ``balance`` (as added to
        the loss), all per sample; ``changed``, the fraction of samples
        whose cluster changed since the previous epoch (1 in a call's first
        epoch); then ``temperature`` and ``seconds``.

    n_steps_ : int
        Optimizer steps of ELBO training since the model was built; the
        temperature schedule runs on this count.

    batch_size_ : int
        The mini-batch size used (``batch_size`` resolved, capped at the
        number of samples).

    weights_ : ndarray of shape (n_clusters,)
        The mixture weights p(y), as ``GaussianMixture.weights_``: the
        sizes of the warm-up's clusters plus one sample each, normalised,
        uniform with ``init_params="random"``.

    means_ : ndarray of shape (n_clusters, latent_dim)
        The mean of each cluster's Gaussian p(z | y), in the latent space of
        :meth:`transform`'s output, as ``GaussianMixture.means_``.

    covariances_ : ndarray of shape (n_clusters, latent_dim)
        The diagonal variances of each p(z | y), as
        ``GaussianMixture.covariances_`` with ``covariance_type="diag"``.
        The model has no BIC or AIC: its likelihood has no closed form
        (``score`` is a lower bound) and a network's parameter count does
        not measure its flexibility; compare models by held-out ``score``.

    likelihood_ : str
        The observation model used, ``"bernoulli"`` or ``"gaussian"``.

    device_ : str
        The device the model was trained on.

    precision_ : {"float32", "bfloat16"}
        The arithmetic of training (``precision`` resolved).

    module_ : torch.nn.Module
        The fitted GMVAE network.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    GMVAEClassifier : The same model trained with a few labels.
    sklearn.mixture.GaussianMixture : Gaussian mixture in the input space.
    sklearn.cluster.KMeans : K-Means clustering.

    Notes
    -----
    The model follows Rui Shu's GMVAE (2016), a variant of the M2 model of
    Kingma et al., "Semi-Supervised Learning with Deep Generative Models"
    (NeurIPS 2014). The Gumbel-Softmax relaxation is from Jang et al.,
    "Categorical Reparameterization with Gumbel-Softmax" (ICLR 2017).

    ``fit``, ``partial_fit`` and the prediction methods lower PyTorch's
    thread count, for their duration, to the allotment of the worker they
    run in (see the user guide on scaling). Values of ``X`` beyond 1e15 in
    magnitude are rejected with a ``ValueError``; a training loss, weight
    or output that becomes NaN or infinite raises a ``ValueError`` (also a
    ``FloatingPointError``) instead of giving labels.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skgmvae import GMVAEClustering
    >>> X, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    >>> model = GMVAEClustering(n_clusters=3, max_iter=5, random_state=0)
    >>> labels = model.fit_predict(X)
    >>> labels.shape
    (200,)
    >>> model.predict_proba(X[:2]).sum(axis=1).round(6)
    array([1., 1.])
    >>> model.transform(X).shape
    (200, 10)
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "average_epochs": [Interval(Integral, 0, None, closed="left")],
        **BaseGMVAE._parameter_constraints,
    }

    def __init__(
        self,
        n_clusters: int = 10,
        *,
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
        n_iter_no_change: int = 3,
        average_epochs: int = 4,
        n_init: int = 1,
        precision: str = "auto",
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
        warm_start: bool = False,
    ) -> None:
        self.n_clusters = n_clusters
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
        self.average_epochs = average_epochs
        self.n_init = n_init
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------ fit

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    @limit_torch_threads(check_idle=True)
    def fit(self, X, y=None):
        """Train the GMVAE on ``X``.

        Each of ``n_init`` initialisations builds a new network, warms it up
        (``init_params``) and trains it on the ELBO; the one with the best
        ELBO on ``X`` is kept. With ``warm_start`` and a fitted model, the
        fitted network is trained further instead.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. Dense and numeric; see ``likelihood``.

        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : GMVAEClustering
            The fitted estimator.
        """
        best, data, settings = self._fit(X)
        warn_after_fit(best.result, self.labels_, data.X, settings)
        return self

    def fit_predict(self, X, y=None):
        """Fit the model and return the cluster of each sample of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.

        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster labels, equal to ``fit(X).predict(X)``.
        """
        return self.fit(X).labels_

    @_fit_context(prefer_skip_nested_validation=True)
    @limit_torch_threads(check_idle=True)
    def partial_fit(self, X, y=None):
        """Update the model with one pass over a chunk of data.

        For data that does not fit in memory, call ``partial_fit`` on
        successive chunks, like ``MiniBatchKMeans.partial_fit``. Each call
        runs one epoch of mini-batch Adam on the negative ELBO over the
        chunk, carrying over the optimizer state and the temperature
        schedule. The first call on an unfitted estimator builds the model
        from that chunk alone, warm-up included, so it must hold at least
        ``n_clusters`` samples and should show every cluster; with
        ``likelihood="auto"`` it also decides the likelihood. On a fitted
        estimator, ``partial_fit`` continues training the model, whether
        ``fit`` or ``partial_fit`` built it.

        ``max_iter``, ``n_init``, ``tol``, ``n_iter_no_change``,
        ``neighbor_weight`` and ``balance_weight`` are not used: neighbours
        are not searched across chunks, and the clusters keep their
        numbering. After each call ``labels_`` holds the clusters of the
        chunk, ``lower_bound_`` the mean ELBO per sample of its epoch (the
        stochastic estimate of training; ``score`` gives the deterministic
        one), ``n_iter_`` counts the epochs since the model was built and
        ``history_`` has one record per epoch. See the user guide's
        section on training in chunks.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One chunk of training data. Dense and numeric; see ``likelihood``.

        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : GMVAEClustering
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from skgmvae import GMVAEClustering
        >>> X = np.random.default_rng(0).uniform(size=(600, 8))
        >>> model = GMVAEClustering(
        ...     n_clusters=3, hidden_layer_sizes=(32,), latent_dim=4, random_state=0
        ... )
        >>> for chunk in np.array_split(X, 3):
        ...     model = model.partial_fit(chunk)
        >>> model.n_iter_, model.labels_.shape
        (3, (200,))
        >>> model.predict(X).shape
        (600,)
        """
        first = not hasattr(self, "module_")
        data = self._prepare(X, first=first, chunk=True)
        # One epoch per chunk, never averaged, with q(y | x) trained.
        settings = replace(
            self._fit_settings(), average_epochs=0, hold_clusters_epochs=0
        )
        if first or not hasattr(self, "_random_state"):
            self._random_state = check_random_state(self.random_state)
        rng = self._random_state
        if first:
            module = new_module(data, settings, rng)
            generator = make_generator(rng, data.device)
            warmup = warm_up(
                module, data, settings, rng, generator, neighbor_terms=False
            )
            state, n_iter = fresh_state(module, settings), 0
        else:
            module, state = self._resumed(data.device, settings)
            generator = make_generator(rng, data.device)
            warmup, n_iter = WarmupResult(), self.n_iter_
        result = train_elbo(
            module, data, state, settings, generator, warmup, FixedEpochs(1), n_iter
        )
        if result.n_epochs:
            # The epoch's own estimate: scoring the chunk exactly would cost
            # about as much again as training on it.
            record = state.history[-1]
            score = -(record["reconstruction"] + record["kl_z"] + record["kl_y"])
        else:
            score = elbo_score(module, data.X_t)
        run = Run(score, module, state, result)
        self._store(run, data, n_iter=n_iter + result.n_epochs, incremental=True)
        return self

    # ---------------------------------------------------------- prediction
    def predict(self, X):
        """Most probable cluster of each sample, ``argmax_k q(y=k | x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster labels.
        """
        return self.predict_proba(X).argmax(axis=1)

    def score(self, X, y=None):
        """Mean ELBO per sample of ``X``; higher is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        elbo : float
            Mean of :meth:`score_samples`.
        """
        return float(self.score_samples(X).mean())

    @limit_torch_threads
    def sample(self, n_samples: int = 1):
        """Generate samples from the fitted mixture.

        Draws ``y`` from ``p(y)``, ``z`` from ``p(z | y)`` and returns the
        decoder's mean ``E[x | z]`` (probabilities for the Bernoulli
        likelihood), like ``GaussianMixture.sample``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Generated samples.

        y : ndarray of shape (n_samples,)
            Cluster each sample was drawn from.
        """
        return self._draw(n_samples)

    # ---------------------------------------------------------------- hooks
    @property
    def _n_clusters(self) -> int:
        return self.n_clusters

    def _fit_settings(self) -> FitSettings:
        return replace(
            super()._fit_settings(),
            average_epochs=self.average_epochs,
            hold_clusters_epochs=_ELBO_HOLD_EPOCHS,
            hold_clusters_steps=_ELBO_HOLD_STEPS,
        )

    def _assign_clusters(self, run: Run, data: TrainingData, *, renumber: bool):
        """``labels_``; with ``renumber``, clusters are numbered by decreasing
        size, so the labels in use are always 0, 1, ... even when a cluster
        ends up empty."""
        labels = cluster_probabilities(run.module, data.X_t).argmax(1).numpy()
        if renumber:
            labels = renumber_by_size(run.module, run.state, labels)
        self.labels_ = labels

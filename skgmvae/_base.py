"""What the GMVAE estimators share: parameters, the fit loop, prediction.

:class:`BaseGMVAE` validates input, loops over initialisations and stores
the fitted attributes; the network is :class:`skgmvae._module.GMVAE`, the
warm-up :mod:`skgmvae._warmup`, the objectives :mod:`skgmvae._losses` and
the training loop :mod:`skgmvae._training`. The clusterer and the
semi-supervised classifier differ in what they learn from ``y``, in how
they number the clusters and in what they report.
"""

from __future__ import annotations

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from skgmvae._device import resolve_device, resolve_precision
from skgmvae._fitting import (
    FitSettings,
    Run,
    TrainingData,
    cluster_probabilities,
    elbo_score,
    embedding,
    fresh_state,
    negative_elbo,
    neighbors_in_x,
    new_module,
    train_elbo,
    warm_up,
)
from skgmvae._losses import ElboSettings
from skgmvae._module import GMVAE
from skgmvae._neighbors import Neighbors
from skgmvae._tensors import as_float32_tensor, make_generator, module_device, to_cpu
from skgmvae._threads import limit_torch_threads
from skgmvae._training import (
    TrainingConfig,
    TrainingState,
    auto_batch_size,
)
from skgmvae._validation import (
    PREDICT_MARGIN,
    NonFiniteError,
    check_finite_output,
    check_hidden_layer_sizes,
    check_magnitude,
    check_unit_interval,
    training_likelihood,
)
from skgmvae._warmup import WarmupResult


class BaseGMVAE(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of the GMVAE estimators; not for direct use.

    Subclasses define ``__init__`` (scikit-learn reads the parameters from
    its signature), ``_n_clusters`` and the hooks ``_encode_labels`` and
    ``_assign_clusters``.
    """

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "likelihood": [StrOptions({"auto", "bernoulli", "gaussian"})],
        "categorical": [StrOptions({"gumbel", "marginal"})],
        "conditional_encoder": ["boolean"],
        "init_params": [StrOptions({"graph", "gmm", "spectral", "random"})],
        "pretrain_iter": [Interval(Integral, 1, None, closed="left")],
        "hard_gumbel": ["boolean"],
        "temperature_init": [Interval(Real, 0.0, None, closed="neither")],
        "temperature_min": [Interval(Real, 0.0, None, closed="neither")],
        "temperature_halflife": [Interval(Real, 0.0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "learning_rate_init": [Interval(Real, 0.0, None, closed="neither")],
        "reconstruction_weight": [Interval(Real, 0.0, None, closed="left")],
        "kl_z_weight": [Interval(Real, 0.0, None, closed="left")],
        "kl_y_weight": [Interval(Real, 0.0, None, closed="left")],
        "neighbor_weight": [Interval(Real, 0.0, None, closed="left")],
        "balance_weight": [Interval(Real, 0.0, None, closed="left")],
        "tol": [Interval(Real, 0.0, 1.0, closed="both")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "precision": [StrOptions({"float32", "bfloat16", "auto"})],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    # ------------------------------------------------------- subclass hooks
    @property
    def _n_clusters(self) -> int:
        """The number K of values of y."""
        raise NotImplementedError

    def _encode_labels(self, y, *, first: bool) -> np.ndarray | None:
        """Each row's class index (-1 unknown), from validated ``y``; None
        when the estimator learns without labels."""
        return None

    def _assign_clusters(self, run: Run, data: TrainingData, *, renumber: bool):
        """Set what the fitted model says of the training rows (``labels_``)."""

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y=None) -> tuple[Run, TrainingData, FitSettings]:
        """Fit on ``X`` (and the labels ``y``): the best of ``n_init``
        initialisations, or, with ``warm_start`` and a fitted model, the
        fitted network trained further. Returns the kept run, the data and
        the settings, for the subclass's warnings."""
        continuing = self.warm_start and hasattr(self, "module_")
        data = self._prepare(X, y, first=not continuing)
        settings = self._fit_settings()
        rng = check_random_state(self.random_state)
        # Where no warm-up runs (init_params="random", warm_start), the
        # neighbour terms take neighbours in X; a warm-up finds its own.
        x_neighbors = None
        if settings.uses_neighbors and (continuing or self.init_params == "random"):
            x_neighbors = neighbors_in_x(data, settings)
        if continuing:
            module, state = self._resumed(data.device, settings)
            generator = make_generator(rng, data.device)
            warmup = WarmupResult(neighbors=x_neighbors)
            result = train_elbo(module, data, state, settings, generator, warmup)
            best = Run(elbo_score(module, data.X_t), module, state, result)
        else:
            best = self._best_initialization(data, settings, rng, x_neighbors)
        self._store(best, data, n_iter=best.result.n_epochs, renumber=not continuing)
        return best, data, settings

    def _best_initialization(
        self,
        data: TrainingData,
        settings: FitSettings,
        rng: np.random.RandomState,
        x_neighbors: Neighbors | None,
    ) -> Run:
        """Of ``n_init`` fresh networks, warmed up and trained, the one with
        the best ELBO on the training data."""
        best = None
        for init in range(self.n_init):
            self._print(f"Initialization {init + 1}/{self.n_init}")
            module = new_module(data, settings, rng)
            generator = make_generator(rng, data.device)
            warmup = warm_up(module, data, settings, rng, generator, x_neighbors)
            state = fresh_state(module, settings)
            result = train_elbo(module, data, state, settings, generator, warmup)
            run = Run(elbo_score(module, data.X_t), module, state, result)
            self._print(f"Initialization {init + 1}: ELBO {run.score:.4f}")
            if best is None or run.score > best.score:
                best = run
            if result.interrupted:
                break
        return best

    # ---------------------------------------------------------- prediction
    @limit_torch_threads
    def predict_proba(self, X):
        """Posterior probabilities ``q(y | x)`` of the clusters or classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters) or (n_samples, n_classes)
            Rows sum to 1.
        """
        X_t = self._validated_tensor(X)
        proba = cluster_probabilities(self.module_, X_t)
        return proba.numpy().astype(np.float64)

    @limit_torch_threads
    def transform(self, X):
        """Embed ``X`` as the posterior mean of ``z``.

        The embedding is ``E_q[z | x] = sum_k q(y=k | x) E[z | x, y=k]``:
        deterministic, unlike a sample of ``z``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
            The embedding, in the floating dtype of ``X``.
        """
        X_t = self._validated_tensor(X)
        Z = embedding(self.module_, X_t)
        return Z.numpy().astype(X.dtype if _is_float_array(X) else np.float64)

    @limit_torch_threads
    def score_samples(self, X):
        """Evidence lower bound (ELBO) of each sample, in nats.

        ``y`` is summed out exactly; the expectation over ``z`` uses one noise
        vector shared by every sample (common random numbers), so the result
        is deterministic and does not depend on which other samples are
        scored with it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
            Per-sample ELBO; higher is better.
        """
        X_t = self._validated_tensor(X)
        neg = check_finite_output(negative_elbo(self.module_, X_t), "ELBO")
        return -neg.numpy().astype(np.float64)

    def _draw(self, n_samples, y: np.ndarray | None = None):
        """``n_samples`` draws from the fitted model: ``(X, y index)``, with
        y from p(y) or the given cluster indices."""
        check_is_fitted(self)
        check_n_samples(n_samples)
        rng = check_random_state(self.random_state)
        device = module_device(self.module_)
        generator = make_generator(rng, device)
        if y is not None:
            y = torch.as_tensor(y, dtype=torch.long, device=device)
        X, y = self.module_.sample(int(n_samples), generator, y)
        check_finite_output(X, "sample")
        return X.cpu().numpy().astype(np.float64), y.cpu().numpy()

    # ------------------------------------------- the mixture, as sklearn's
    @property
    def weights_(self) -> np.ndarray:
        """Mixture weights p(y), shape ``(n_clusters,)``, as ``GaussianMixture``."""
        check_is_fitted(self, "module_")
        weights = np.exp(self.module_.log_prior_y.detach().cpu().double().numpy())
        return weights / weights.sum()

    @property
    def means_(self) -> np.ndarray:
        """Means of p(z | y) in latent space, ``(n_clusters, latent_dim)``."""
        check_is_fitted(self, "module_")
        return self.module_.prior_params()[0].detach().cpu().double().numpy()

    @property
    def covariances_(self) -> np.ndarray:
        """Diagonal variances of p(z | y), ``(n_clusters, latent_dim)``."""
        check_is_fitted(self, "module_")
        logvar = self.module_.prior_params()[1].detach()
        return logvar.exp().cpu().double().numpy()

    # --------------------------------------------------------- sklearn glue
    @property
    def _n_features_out(self) -> int:
        return self.latent_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = False
        return tags

    def __getstate__(self):
        # Always pickle on the CPU, so a model fitted on a GPU loads anywhere.
        state = self.__dict__.copy()
        if "module_" in state:
            state["module_"] = copy.deepcopy(state["module_"]).cpu()
            # Adam's moments are twice the network's size and serve only to
            # continue training: kept where that is planned (warm_start, or
            # a model trained by partial_fit), else training continues from
            # a fresh optimizer.
            if self.warm_start or self._incremental:
                state["_optimizer_state"] = to_cpu(state["_optimizer_state"])
            else:
                state["_optimizer_state"] = None
        return state

    # ------------------------------------------------------ fitting steps
    def _prepare(self, X, y=None, *, first: bool, chunk: bool = False) -> TrainingData:
        """Validate training data (a whole set, or a chunk for partial_fit).

        ``first`` is True when a new model will be built from ``X``; ``y``,
        for the classifier, holds the training labels.
        """
        params = dict(
            dtype=[np.float32, np.float64],
            ensure_min_samples=1 if chunk and not first else 2,
            reset=first,
        )
        if y is None:
            X = validate_data(self, X, **params)
        else:
            X, y = validate_data(self, X, y, **params)
        check_magnitude(X)
        labels = self._encode_labels(y, first=first)
        n_samples, n_clusters = X.shape[0], self._n_clusters
        if (first or not chunk) and n_clusters > n_samples:
            raise ValueError(
                f"The first chunk passed to partial_fit has n_samples="
                f"{n_samples}, fewer than n_clusters={n_clusters}; the "
                "model is initialised from the first chunk."
                if chunk
                else f"n_samples={n_samples} should be >= n_clusters={n_clusters}."
            )
        likelihood, X = training_likelihood(
            X,
            self.likelihood,
            None if first else self.likelihood_,
            chunk=chunk,
        )
        device = resolve_device(self.device)
        config = self._training_config(n_samples, device)
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long, device=device)
        return TrainingData(
            X, as_float32_tensor(X, device), likelihood, device, config, labels
        )

    def _resumed(
        self, device: torch.device, settings: FitSettings
    ) -> tuple[GMVAE, TrainingState]:
        """Copies of the fitted network and its optimizer state, with the step
        count and history, to train further.

        Training changes a network in place, and ``load_state_dict`` keeps
        the optimizer tensors it is given, which Adam then updates in place.
        Training copies leaves the fitted model as it was until ``_store``
        replaces it, so a call that raises (a chunk whose loss stays
        non-finite, say) changes nothing, and the next call starts from
        weights and moments that no failed epoch has touched.
        """
        self._check_architecture(settings)
        module = copy.deepcopy(self.module_).to(device)
        state = fresh_state(module, settings)
        state.step, state.history = self.n_steps_, list(self.history_)
        if self._optimizer_state is not None:
            state.optimizer.load_state_dict(copy.deepcopy(self._optimizer_state))
        return module, state

    def _check_architecture(self, settings: FitSettings) -> None:
        """Raise where a parameter that shapes the network has changed since
        the fitted network was built: training it further cannot reshape it,
        and ignoring the new value would leave ``get_params`` describing
        another model than the one fitted."""
        built = self.module_.architecture()
        wanted = {
            "n_clusters": settings.n_clusters,
            "latent_dim": settings.latent_dim,
            "hidden_layer_sizes": settings.hidden_layer_sizes,
            "conditional_encoder": settings.conditional_encoder,
        }
        changed = [
            f"{name}={wanted[name]!r} (built with {built[name]!r})"
            for name in wanted
            if wanted[name] != built[name]
        ]
        if changed:
            raise ValueError(
                "warm_start=True and partial_fit train the fitted network "
                "further, which cannot change its shape: "
                + ", ".join(changed)
                + ". Fit with warm_start=False to build a new network."
            )

    def _store(
        self,
        run: Run,
        data: TrainingData,
        *,
        n_iter: int,
        renumber: bool = False,
        incremental: bool = False,
    ) -> None:
        """Set the fitted attributes from the kept ``run``.

        ``incremental`` marks a model trained by ``partial_fit`` on a chunk.

        ``renumber`` is passed on to :meth:`_assign_clusters`.
        """
        if not np.isfinite(run.score):
            where = "this chunk" if incremental else "the training data"
            raise NonFiniteError(
                f"The fitted model gives a non-finite ELBO on {where}; lower "
                "learning_rate_init or check the scaling of X."
            )
        module, state = run.module, run.state
        self._assign_clusters(run, data, renumber=renumber)
        self.module_ = module
        self.likelihood_ = data.likelihood
        self.device_ = str(data.device)
        self.batch_size_ = data.config.batch_size
        self.precision_ = data.config.precision
        self.lower_bound_ = run.score
        self.history_ = state.history
        self.loss_curve_ = [record["loss"] for record in state.history]
        self.n_iter_ = n_iter
        self.converged_ = run.result.converged
        self.n_steps_ = state.step
        self._optimizer_state = state.optimizer.state_dict()
        self._incremental = incremental

    # -------------------------------------------------------- small helpers
    def _batch_size(self, n_samples: int) -> int:
        return (
            auto_batch_size(n_samples) if self.batch_size == "auto" else self.batch_size
        )

    def _training_config(
        self, n_samples: int, device: torch.device | None = None
    ) -> TrainingConfig:
        device = resolve_device(self.device) if device is None else device
        batch_size = min(self._batch_size(n_samples), n_samples)
        return TrainingConfig(
            batch_size=batch_size,
            precision=resolve_precision(self.precision, device, batch_size),
        )

    def _fit_settings(self) -> FitSettings:
        return FitSettings(
            n_clusters=self._n_clusters,
            latent_dim=self.latent_dim,
            hidden_layer_sizes=check_hidden_layer_sizes(self.hidden_layer_sizes),
            conditional_encoder=self.conditional_encoder,
            init_params=self.init_params,
            pretrain_iter=self.pretrain_iter,
            learning_rate=self.learning_rate_init,
            elbo=self._elbo_settings(),
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            neighbor_weight=self.neighbor_weight,
            balance_weight=self.balance_weight,
            verbose=self.verbose,
        )

    def _elbo_settings(self) -> ElboSettings:
        return ElboSettings(
            categorical=self.categorical,
            hard=self.hard_gumbel,
            temperature_init=self.temperature_init,
            temperature_min=self.temperature_min,
            temperature_halflife=self.temperature_halflife,
            weights=(self.reconstruction_weight, self.kl_z_weight, self.kl_y_weight),
        )

    def _validated_tensor(self, X) -> torch.Tensor:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        check_magnitude(X)
        if self.likelihood_ == "bernoulli":
            X = check_unit_interval(
                X,
                what="X",
                remedy="Values up to 1 outside [0, 1] are clipped; these were "
                "not scaled like the training data. Apply the same scaling as "
                "at fit time.",
                margin=PREDICT_MARGIN,
            )
        return as_float32_tensor(X, module_device(self.module_))

    def _print(self, message: str) -> None:
        if self.verbose:
            print(message)


def _is_float_array(X) -> bool:
    return isinstance(X, np.ndarray) and X.dtype in (np.float32, np.float64)


def check_n_samples(n_samples) -> None:
    """Reject a number of samples to draw that is not an integer >= 1."""
    if not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(
            f"Invalid value for 'n_samples': {n_samples!r}. It must be an integer >= 1."
        )

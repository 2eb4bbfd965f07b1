"""The steps of a fit, as functions of validated data and fixed settings.

``GMVAEClustering`` turns its parameters into one :class:`FitSettings` and
its input into one :class:`TrainingData`, then calls these steps: build a
network, warm it up, train it on the ELBO, score it. Nothing here reads the
estimator, so each step can be called and tested on its own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from skgmvae._determinism import single_threaded_numerics
from skgmvae._losses import (
    ElboObjective,
    ElboSettings,
    LabelTerms,
    NeighborTerms,
    exact_negative_elbo,
    score_noise,
)
from skgmvae._module import GMVAE
from skgmvae._neighbors import Neighbors, nearest_neighbors, neighbor_draws
from skgmvae._progress import EpochCallback, epoch_printer
from skgmvae._tensors import make_generator, map_chunks
from skgmvae._training import (
    ClusterStability,
    FixedEpochs,
    Stopping,
    TrainingConfig,
    TrainingResult,
    TrainingState,
    make_optimizer,
    permute_clusters,
    steps_per_epoch,
    train,
    train_averaged,
)
from skgmvae._validation import check_finite_output
from skgmvae._warmup import WarmupContext, WarmupResult, WarmupSettings, run_warmup
from skgmvae._warnings import warn


@dataclass(frozen=True)
class FitSettings:
    """The estimator's parameters that shape the network and its training."""

    n_clusters: int
    latent_dim: int
    hidden_layer_sizes: tuple[int, ...]
    conditional_encoder: bool
    init_params: str
    pretrain_iter: int
    learning_rate: float
    elbo: ElboSettings
    max_iter: int
    tol: float
    n_iter_no_change: int
    neighbor_weight: float
    balance_weight: float
    classification_weight: float = 0.0
    average_epochs: int = 0
    hold_clusters_epochs: int = 0
    # The shortest hold, in optimizer steps, where there is one.
    hold_clusters_steps: int = 0
    verbose: int = 0
    warmup: WarmupSettings = field(default_factory=WarmupSettings)

    @property
    def uses_neighbors(self) -> bool:
        return self.neighbor_weight > 0 or self.balance_weight > 0


@dataclass
class TrainingData:
    """Training data, validated and on its device, with what it implies.

    ``labels``, for semi-supervised training, holds each row's class index
    (-1 where unknown) on the device; None for clustering.
    """

    X: np.ndarray
    X_t: torch.Tensor
    likelihood: str
    device: torch.device
    config: TrainingConfig
    labels: torch.Tensor | None = None

    @functools.cached_property
    def input_scaling(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The Gaussian model's input shift and scale (:func:`input_scaling`),
        worked out once for all of a fit's restarts."""
        if self.likelihood != "gaussian":
            return None
        scaling = input_scaling(self.X)
        return None if scaling is None else tuple(map(torch.from_numpy, scaling))


@dataclass
class Run:
    """One trained model: its ELBO score, network, optimizer state, result."""

    score: float
    module: GMVAE
    state: TrainingState
    result: TrainingResult


def new_module(
    data: TrainingData, settings: FitSettings, rng: np.random.RandomState
) -> GMVAE:
    """A freshly initialised network on the data's device, seeded from rng."""
    # nn.Linear's default initialisation draws from the global torch RNG;
    # reset_parameters replaces it from the seed alone.
    with torch.random.fork_rng(devices=[]):
        module = GMVAE(
            data.X.shape[1],
            settings.n_clusters,
            settings.latent_dim,
            settings.hidden_layer_sizes,
            data.likelihood,
            conditional_encoder=settings.conditional_encoder,
        )
    module.reset_parameters(make_generator(rng, torch.device("cpu")))
    if data.input_scaling is not None:
        module.set_input_scaling(*data.input_scaling)
    return module.to(data.device)


# Features whose root mean square stays below this are on the scale the
# networks are initialised for, and are passed as they are.
_INPUT_SCALE_LIMIT = 10.0


def input_scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each feature's mean, and its standard deviation but at least 1, when
    some feature's root mean square exceeds ``_INPUT_SCALE_LIMIT``.

    None for data already on about the scale of standardised data, whose
    fits then stay exactly what they were without the scaling. The scale
    only ever shrinks a feature: a (nearly) constant one is centred, not
    divided by a standard deviation that float32 may round to zero.
    """
    # No value above the limit: no root mean square above it either, and
    # the common case needs no float64 copy of the data.
    if np.abs(X).max() <= _INPUT_SCALE_LIMIT:
        return None
    X = np.asarray(X, dtype=np.float64)
    if np.sqrt(np.mean(X**2, axis=0)).max() <= _INPUT_SCALE_LIMIT:
        return None
    shift = X.mean(axis=0)
    scale = np.maximum(X.std(axis=0), 1.0)
    return shift.astype(np.float32), scale.astype(np.float32)


def neighbors_in_x(data: TrainingData, settings: FitSettings) -> Neighbors:
    """Each sample's nearest neighbours in X, weighted for drawing.

    For the neighbour terms where no warm-up runs to find neighbours among
    its codes (``init_params="random"``, ``warm_start``).
    """
    with single_threaded_numerics():  # as in the warm-up: thread-independent
        found = nearest_neighbors(data.X, settings.warmup.n_neighbors)
    return neighbor_draws(found, data.device)


def neighbor_weights(data: TrainingData, settings: FitSettings) -> tuple[float, float]:
    """The consistency and balance weights for this data."""
    # Weights per input feature: the ELBO, which the two terms must stand up
    # to, grows with the number of features.
    n_features = data.X.shape[1]
    return (
        settings.neighbor_weight * n_features,
        settings.balance_weight * n_features,
    )


def label_terms(
    data: TrainingData,
    settings: FitSettings,
    generator: torch.Generator,
    targets: torch.Tensor | None = None,
) -> LabelTerms | None:
    """The classification term of the known classes, or None when clustering.

    Weighted per input feature, like the neighbour terms. Where only some
    rows are labelled, each step draws a quarter batch of labelled rows.
    ``targets``, the class of each row at the start, extend the term to the
    unlabelled rows.
    """
    if data.labels is None:
        return None
    all_labelled = bool((data.labels >= 0).all())
    n_drawn = 0 if all_labelled else max(1, data.config.batch_size // 4)
    weight = settings.classification_weight * data.X.shape[1]
    return LabelTerms(data.X_t, data.labels, weight, n_drawn, generator, targets)


def warm_up(
    module: GMVAE,
    data: TrainingData,
    settings: FitSettings,
    rng: np.random.RandomState,
    generator: torch.Generator,
    x_neighbors: Neighbors | None = None,
    *,
    neighbor_terms: bool = True,
) -> WarmupResult:
    """The warm-up of ``settings.init_params`` (none for ``"random"``).

    An interrupted warm-up leaves the model as its last completed stage left
    it, with a warning, so that a usable model can still be kept. Without a
    warm-up, the neighbour terms use ``x_neighbors``. ``neighbor_terms=False``
    leaves out the neighbour stage whatever the weights.
    """
    if settings.init_params == "random":
        return WarmupResult(neighbors=x_neighbors)
    weights = None
    if neighbor_terms and settings.uses_neighbors:
        weights = neighbor_weights(data, settings)
    context = WarmupContext(
        module,
        data.X_t,
        settings.init_params,
        settings.pretrain_iter,
        weights,
        data.config,
        settings.learning_rate,
        rng,
        generator,
        settings=settings.warmup,
        verbose=settings.verbose,
        labels=label_terms(data, settings, generator),
    )
    result = run_warmup(context)
    if result.interrupted:
        warn(
            f"Warm-up interrupted during its {result.interrupted_stage} stage; "
            "the model has not been trained on the ELBO and its clusters are "
            "only a rough start.",
            RuntimeWarning,
        )
    return result


def train_elbo(
    module: GMVAE,
    data: TrainingData,
    state: TrainingState,
    settings: FitSettings,
    generator: torch.Generator,
    warmup: WarmupResult,
    stopping: Stopping | None = None,
    first_epoch: int = 0,
) -> TrainingResult:
    """ELBO training after ``warmup``: the negative ELBO, plus the neighbour
    terms where the warm-up left neighbours.

    Nothing is trained after an interrupted warm-up. Where the warm-up set
    the clusters, q(y | x) is held for the first
    ``settings.hold_clusters_epochs`` epochs, and at least the first
    ``settings.hold_clusters_steps`` optimizer steps (see
    :class:`ElboObjective`); where training stops inside the hold, the hold
    lasts through the averaged epochs too.
    Training stops early on ``tol`` / ``n_iter_no_change`` unless
    ``stopping`` says otherwise; then ``settings.average_epochs`` more
    epochs run and the weights are averaged over them and the last epoch
    before (:func:`train_averaged`). Epochs
    are numbered from ``first_epoch`` in verbose output; the result counts
    all of them.
    """
    if warmup.interrupted:
        return TrainingResult(n_epochs=0, converged=False, interrupted=True)
    objective, batches = _elbo_objective(data, state, settings, generator, warmup)
    if stopping is None:
        stopping = ClusterStability(
            settings.max_iter, settings.tol, settings.n_iter_no_change
        )

    report = _elbo_printer(settings, "ELBO", stopping, first_epoch)
    result = train(
        module,
        batches,
        objective,
        state,
        stopping,
        data.config,
        generator,
        on_epoch_end=report,
    )
    average_epochs = settings.average_epochs
    if result.interrupted or average_epochs == 0:
        return result
    _hold_through_averaging(objective, state, data, average_epochs)
    first_epoch += result.n_epochs
    report = _elbo_printer(
        settings, "ELBO, averaged", FixedEpochs(average_epochs), first_epoch
    )
    averaged = train_averaged(
        module,
        batches,
        objective,
        state,
        average_epochs,
        data.config,
        generator,
        on_epoch_end=report,
    )
    return TrainingResult(
        n_epochs=result.n_epochs + averaged.n_epochs,
        converged=result.converged,
        interrupted=averaged.interrupted,
    )


def _elbo_objective(
    data: TrainingData,
    state: TrainingState,
    settings: FitSettings,
    generator: torch.Generator,
    warmup: WarmupResult,
) -> tuple[ElboObjective, torch.Tensor]:
    """The ELBO stage's objective, and the tensor its batches are cut from."""
    terms = None
    if warmup.neighbors is not None:
        weights = neighbor_weights(data, settings)
        terms = NeighborTerms(data.X_t, warmup.neighbors, *weights, generator)
    labels = label_terms(data, settings, generator, warmup.class_targets)
    held_until = _held_until(data, state, settings, warmup)
    objective = ElboObjective(settings.elbo, generator, terms, labels, held_until)
    if terms is None and labels is None:
        return objective, data.X_t
    # Row indices: the objective gathers each batch together with its
    # neighbours and known classes.
    return objective, torch.arange(data.X_t.shape[0], device=data.device)


def _hold_through_averaging(
    objective: ElboObjective,
    state: TrainingState,
    data: TrainingData,
    average_epochs: int,
) -> None:
    """Where training stopped inside the hold of q(y | x), extend the hold
    through the averaged epochs.

    The clusters were found stable before the hold ended (small data, few
    steps an epoch). Released in the averaged epochs, which no stopping rule
    watches, q(y | x) could join clusters there.
    """
    if state.step >= objective.hold_clusters_until:
        return
    averaged_steps = average_epochs * steps_per_epoch(data.X_t.shape[0], data.config)
    objective.hold_clusters_until = max(
        objective.hold_clusters_until, state.step + averaged_steps
    )


def _held_until(
    data: TrainingData,
    state: TrainingState,
    settings: FitSettings,
    warmup: WarmupResult,
) -> int:
    """The optimizer step up to which ELBO training holds q(y | x): none
    (the current step) unless the warm-up set the clusters and
    ``settings`` holds them for at least one epoch."""
    if not warmup.clusters_set or settings.hold_clusters_epochs == 0:
        return state.step
    held = settings.hold_clusters_epochs * steps_per_epoch(
        data.X_t.shape[0], data.config
    )
    return state.step + max(held, settings.hold_clusters_steps)


def _elbo_printer(
    settings: FitSettings, stage: str, stopping: Stopping, first_epoch: int
) -> EpochCallback | None:
    """The verbose output of an ELBO stage; None when ``settings`` is quiet."""
    if not settings.verbose:
        return None
    return epoch_printer(
        stage,
        stopping.max_epochs,
        first_epoch=first_epoch,
        may_stop_early=stopping.may_stop_early,
        details=_elbo_details,
    )


def _elbo_details(record: dict[str, float]) -> str:
    classification = ""
    if "classification" in record:
        classification = f", classification {record['classification']:.4f}"
    return (
        f" (reconstruction {record['reconstruction']:.4f}, "
        f"kl_z {record['kl_z']:.4f}, kl_y {record['kl_y']:.4f}{classification}), "
        f"temperature {record['temperature']:.3f}"
    )


def fresh_state(module: GMVAE, settings: FitSettings) -> TrainingState:
    """A new Adam optimizer for ELBO training, at step 0."""
    return TrainingState(make_optimizer(module, settings.learning_rate))


def renumber_by_size(
    module: GMVAE, state: TrainingState, labels: np.ndarray
) -> np.ndarray:
    """Number the clusters by decreasing size; return the new ``labels``.

    The labels in use are then always 0, 1, ... even when a cluster ends up
    empty. The network and its optimizer state are permuted alike, so the
    model and further training are unchanged up to the numbering.
    """
    counts = np.bincount(labels, minlength=module.n_clusters)
    order = np.argsort(-counts, kind="stable")
    permute_clusters(module, state.optimizer, torch.as_tensor(order))
    return np.argsort(order)[labels]


# ------------------------------------------------------------- evaluation
def cluster_probabilities(module: GMVAE, X_t: torch.Tensor) -> torch.Tensor:
    """q(y | x) of every row, checked to be finite, on the CPU."""
    proba = map_chunks(module.qy_probs, X_t)
    return check_finite_output(proba, "cluster probability q(y | x)")


def embedding(module: GMVAE, X_t: torch.Tensor) -> torch.Tensor:
    """Posterior mean of z of every row, checked to be finite, on the CPU."""
    return check_finite_output(map_chunks(module.embed, X_t), "embedding")


def negative_elbo(module: GMVAE, X_t: torch.Tensor) -> torch.Tensor:
    """Deterministic negative ELBO of every row, on the CPU."""
    eps = score_noise(module)
    return map_chunks(lambda batch: exact_negative_elbo(module, batch, eps).loss, X_t)


def elbo_score(module: GMVAE, X_t: torch.Tensor) -> float:
    """Mean ELBO per row: the score that selects among initialisations.

    Averaged in numpy: torch splits a reduction over many rows between its
    threads, so its mean would depend on the thread count.
    """
    return -float(negative_elbo(module, X_t).double().numpy().mean())


def warn_after_fit(
    result: TrainingResult, labels: np.ndarray, X: np.ndarray, settings: FitSettings
) -> None:
    """Warn about degenerate data (only that, where it applies), else about
    stopping at ``max_iter`` and about clusters left empty."""
    n_clusters = settings.n_clusters
    n_used = np.unique(labels).size
    if n_used < n_clusters:
        n_distinct = np.unique(X, axis=0).shape[0]
        if n_distinct < n_clusters:
            warn(
                f"X holds only {n_distinct} distinct sample(s), fewer than "
                f"n_clusters={n_clusters}: at most {n_distinct} clusters can be "
                f"told apart, and {n_used} are used. Check X for duplicated "
                "rows, or lower n_clusters.",
                UserWarning,
            )
            return
    warn_not_converged(result, settings, "GMVAEClustering", "clusters", "cluster")
    if n_used < n_clusters:
        warn(
            f"Only {n_used} of n_clusters={n_clusters} clusters are assigned any "
            "training sample. The data may hold fewer clusters, or training "
            "merged some: try another random_state, n_init > 1, or a smaller "
            "n_clusters.",
            UserWarning,
        )


def warn_not_converged(
    result: TrainingResult, settings: FitSettings, name: str, plural: str, one: str
) -> None:
    """Warn when training stopped at ``max_iter`` with its ``plural`` (clusters
    or predicted classes) still changing."""
    if result.converged or result.interrupted:
        return
    warn(
        f"{name} stopped after max_iter={settings.max_iter} epochs while its "
        f"{plural} were still changing: more than tol={settings.tol} of the "
        f"samples changed {one} in one of the last n_iter_no_change="
        f"{settings.n_iter_no_change} epochs (converged_=False; history_ "
        "records the fraction as 'changed'). Increase max_iter, or raise tol / "
        "lower n_iter_no_change to stop sooner.",
        ConvergenceWarning,
    )

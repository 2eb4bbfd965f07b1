"""The warm-up: from random weights to a model that starts from good clusters.

Training the ELBO from random weights tends to merge clusters. The warm-up
runs, before it, a sequence of named stages on one :class:`WarmupContext`:

1. ``autoencoder``: ``pretrain_epochs`` epochs train the z-encoder and the
   decoder as a deterministic autoencoder.
2. ``codes``: the latent space is re-expressed so that the codes of the
   training data have zero mean and unit variance per dimension.
3. ``neighbour search``: each code's nearest neighbours and each input
   sample's, for the graph start and the neighbour terms.
4. ``initial clusters``: the codes are clustered by the start method
   (:func:`skgmvae._initialization.initial_clusters`); without known
   classes, the graph start's clusters are refined by EM of a
   full-covariance Gaussian mixture of the input where the input looks like
   one (:func:`skgmvae._input_mixture.refine_start`). The cluster priors
   p(z | y) and the mixture weights p(y) are set from the clusters. Where
   classes are known, cluster k is class k (see ``initial_clusters``) and
   the start's classes become targets of the classification term.
5. ``alignment``: q(y | x) learns these clusters, for at least
   ``qy_stage_epochs`` epochs and ``qy_stage_min_steps`` optimizer steps.
6. ``neighbors`` (with the neighbour terms on): as many epochs train q(y | x)
   on the neighbour terms alone, and the priors are refitted to the clusters
   q(y | x) then gives, so that the ELBO starts from clusters the neighbour
   terms agree with. Where the start is the input mixture's partition, this
   training is left out (see :func:`train_neighbor_terms`).

:func:`run_warmup` runs the stages and stops at the first one a
``KeyboardInterrupt`` cuts, leaving the model as the last completed step
left it; each stage can also be called on its own.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from skgmvae._determinism import single_threaded_numerics
from skgmvae._initialization import (
    StartSettings,
    gaussian_moments,
    initial_clusters,
    mixture_weights,
)
from skgmvae._input_mixture import InputMixtureSettings, refine_start
from skgmvae._losses import (
    AlignmentObjective,
    AutoencoderObjective,
    LabelTerms,
    NeighborObjective,
    NeighborTerms,
    Objective,
)
from skgmvae._module import GMVAE
from skgmvae._neighbors import (
    Neighbors,
    input_features,
    nearest_neighbors,
    neighbor_draws,
)
from skgmvae._progress import epoch_printer, stage_timer
from skgmvae._tensors import map_chunks, module_device
from skgmvae._training import (
    FixedEpochs,
    TrainingConfig,
    TrainingState,
    make_optimizer,
    steps_per_epoch,
    train,
)


@dataclass(frozen=True)
class WarmupSettings:
    """The warm-up's fixed choices.

    Where the codes have fewer dimensions than the input, the autoencoder
    trains at ``autoencoder_rate_factor`` times the learning rate of the
    other stages: it must compress, and in its fixed number of epochs it
    then reaches a lower reconstruction loss and codes that cluster
    better. Where they have as many or more, nothing needs compressing and
    the usual rate is kept: there the faster rate only bent the codes of
    two-dimensional data away from the input's shape.

    ``qy_stage_epochs`` caps the epochs of each q(y | x) stage (at most the
    autoencoder's); the alignment stage takes at least
    ``qy_stage_min_steps`` optimizer steps, because on small data ten epochs
    are too few steps for q(y | x) to learn the initial clusters.
    ``n_neighbors`` neighbours per code are searched. q(z | x, y) starts
    with ``posterior_variance_ratio`` times the clusters' mean variance, so
    that the z term starts small instead of dominating the first steps and
    merging the clusters. The neighbour stage's Adam has ``neighbor_stage_eps``
    in place of the usual 1e-8: Adam scales every step to about the learning
    rate whatever the gradient's size, so where the start already satisfies
    the neighbour terms, their tiny, noisy gradients would still move all
    weights at full speed and can wipe out a cluster of a few dozen samples
    (seen on two-dimensional data); with the larger ``eps``, steps shrink
    with gradients well below it. ``start`` holds the start methods'
    settings, ``input_mixture`` those of the graph start's refinement by a
    Gaussian mixture of the input.
    """

    autoencoder_rate_factor: float = 2.0
    qy_stage_epochs: int = 10
    qy_stage_min_steps: int = 300
    n_neighbors: int = 10
    posterior_variance_ratio: float = 0.1
    neighbor_stage_eps: float = 1e-4
    start: StartSettings = field(default_factory=StartSettings)
    input_mixture: InputMixtureSettings = field(default_factory=InputMixtureSettings)


@dataclass
class WarmupContext:
    """What the warm-up stages read, and what they leave for the next ones.

    ``method`` is the start method (``"graph"``, ``"gmm"`` or
    ``"spectral"``); ``neighbor_weights`` the weights of the consistency and
    balance terms, or None for no neighbour stage; ``labels`` the known
    classes and their classification term (None when unsupervised). The
    stages fill in
    ``codes`` (standardized, float32), ``input_features`` (the input, or its
    leading principal components), ``code_neighbors`` and
    ``input_neighbors`` (distances and indices), ``responsibilities``,
    ``start_from_input`` (whether the start is the partition of a Gaussian
    mixture of the input) and ``neighbors``.
    """

    module: GMVAE
    X: torch.Tensor
    method: str
    pretrain_epochs: int
    neighbor_weights: tuple[float, float] | None
    config: TrainingConfig
    learning_rate: float
    random_state: np.random.RandomState
    generator: torch.Generator
    settings: WarmupSettings = field(default_factory=WarmupSettings)
    verbose: int = 0
    labels: LabelTerms | None = None
    codes: np.ndarray | None = None
    input_features: np.ndarray | None = None
    code_neighbors: tuple[np.ndarray, np.ndarray] | None = None
    input_neighbors: tuple[np.ndarray, np.ndarray] | None = None
    responsibilities: np.ndarray | None = None
    start_from_input: bool = False
    neighbors: Neighbors | None = None


@dataclass
class WarmupResult:
    """The stage a ``KeyboardInterrupt`` cut (or None), the neighbours of
    the neighbour terms (None without them or after an interruption), with
    known classes each row's class at the start (-1 for none), and whether
    the warm-up ran to its end and so set the clusters ELBO training
    starts from."""

    interrupted_stage: str | None = None
    neighbors: Neighbors | None = None
    class_targets: torch.Tensor | None = None
    clusters_set: bool = False

    @property
    def interrupted(self) -> bool:
        return self.interrupted_stage is not None


# ------------------------------------------------------------------ stages
def pretrain_autoencoder(ctx: WarmupContext) -> None:
    """Train the z-encoder and decoder as an autoencoder, faster where the
    codes compress the input (see :class:`WarmupSettings`)."""
    compresses = ctx.module.latent_dim < ctx.module.n_features
    factor = ctx.settings.autoencoder_rate_factor if compresses else 1.0
    _train_stage(
        ctx,
        "autoencoder",
        ctx.X,
        AutoencoderObjective(),
        ctx.pretrain_epochs,
        rate_factor=factor,
    )


def embed_codes(ctx: WarmupContext) -> None:
    """Standardize the latent space on the training codes; keep the codes."""
    module = ctx.module
    device = module_device(module)
    codes = map_chunks(module.autoencoder_embed, ctx.X)
    mean, std = codes.mean(0), codes.std(0).clamp_min(1e-6)
    module.standardize_latent(mean.to(device), std.to(device))
    ctx.codes = ((codes - mean) / std).numpy()


def search_neighbors(ctx: WarmupContext) -> None:
    """Each code's nearest neighbours, and each input sample's, where the
    start or the terms use them.

    The input's are searched only where there are more samples than
    neighbours; with fewer, every sample is every other's neighbour.
    """
    if ctx.method != "graph" and ctx.neighbor_weights is None:
        return
    ctx.code_neighbors = nearest_neighbors(ctx.codes, ctx.settings.n_neighbors)
    graph = ctx.settings.start.graph
    if ctx.X.shape[0] > graph.n_neighbors:
        ctx.input_features = input_features(
            ctx.X.cpu().numpy(),
            n_components=graph.input_components,
            random_state=ctx.random_state,
        )
        ctx.input_neighbors = nearest_neighbors(ctx.input_features, graph.n_neighbors)


def find_initial_clusters(ctx: WarmupContext) -> None:
    """Cluster the codes and set the cluster priors p(z | y) from them."""
    classes = None if ctx.labels is None else ctx.labels.labels.cpu().numpy()
    with warnings.catch_warnings():
        # On degenerate data (fewer distinct codes than clusters), k-means,
        # the mixture and PCA warn from inside the start, once per run; the
        # estimator says once, after the fit, what is wrong with the data.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        ctx.responsibilities = initial_clusters(
            ctx.method,
            ctx.codes,
            ctx.module.n_clusters,
            ctx.settings.start,
            code_neighbors=ctx.code_neighbors,
            input_neighbors=ctx.input_neighbors,
            random_state=ctx.random_state,
            classes=classes,
        )
        if classes is None:
            refine_by_input_mixture(ctx)
    if classes is not None:
        ctx.labels.targets = _start_classes(ctx.responsibilities, ctx.X.device)
    set_prior_from_clusters(ctx, ctx.responsibilities)


def refine_by_input_mixture(ctx: WarmupContext) -> None:
    """Replace the graph start's clusters by EM's partition of a Gaussian
    mixture of the input, where the input looks like one.

    The test draws from a copy of the random stream, so that the later
    stages draw the same numbers whether or not it runs.
    """
    if ctx.method != "graph" or ctx.input_features is None:
        return
    copy = np.random.RandomState()
    copy.set_state(ctx.random_state.get_state())
    refined = refine_start(
        ctx.input_features,
        ctx.responsibilities.argmax(1),
        ctx.module.n_clusters,
        ctx.settings.input_mixture,
        random_state=copy,
    )
    if refined is not None:
        ctx.responsibilities = np.eye(ctx.module.n_clusters)[refined]
        ctx.start_from_input = True


def align_clusters(ctx: WarmupContext) -> None:
    """Teach q(y | x) the initial clusters (cross-entropy to them)."""
    steps = steps_per_epoch(ctx.X.shape[0], ctx.config)
    min_epochs = math.ceil(ctx.settings.qy_stage_min_steps / steps)
    n_epochs = max(_qy_stage_epochs(ctx), min_epochs)
    targets = torch.as_tensor(
        ctx.responsibilities, dtype=torch.float32, device=ctx.X.device
    )
    _train_stage(ctx, "alignment", (ctx.X, targets), AlignmentObjective(), n_epochs)


def train_neighbor_terms(ctx: WarmupContext) -> None:
    """Train q(y | x) on the neighbour terms (and the known classes, where
    there are any), then refit the priors to it.

    Where the start is the partition of a Gaussian mixture of the input,
    q(y | x) is not trained here: the neighbours come from the autoencoder's
    codes, whose grouping EM has just corrected, and the terms alone would
    pull the clusters back towards the graph's. The ELBO still trains with
    the terms, from the start's priors.
    """
    if ctx.neighbor_weights is None:
        return
    device = ctx.X.device
    # Drawn among the code neighbours the input's neighbours confirm: edges
    # the graph start's shared graph also keeps.
    neighbors = neighbor_draws(ctx.code_neighbors, device, ctx.input_neighbors)
    if ctx.start_from_input:
        ctx.neighbors = neighbors
        return
    terms = NeighborTerms(ctx.X, neighbors, *ctx.neighbor_weights, ctx.generator)
    index = torch.arange(ctx.X.shape[0], device=device)
    objective = NeighborObjective(terms, ctx.labels)
    _train_stage(
        ctx,
        "neighbors",
        index,
        objective,
        _qy_stage_epochs(ctx),
        eps=ctx.settings.neighbor_stage_eps,
    )
    resp = map_chunks(ctx.module.qy_probs, ctx.X)
    set_prior_from_clusters(ctx, resp.double().numpy())
    ctx.neighbors = neighbors


STAGES: tuple[tuple[str, Callable[[WarmupContext], None]], ...] = (
    ("autoencoder", pretrain_autoencoder),
    ("codes", embed_codes),
    ("neighbour search", search_neighbors),
    ("initial clusters", find_initial_clusters),
    ("alignment", align_clusters),
    ("neighbors", train_neighbor_terms),
)


def run_warmup(
    ctx: WarmupContext,
    stages: tuple[tuple[str, Callable[[WarmupContext], None]], ...] = STAGES,
) -> WarmupResult:
    """Run the named ``stages`` in turn; stop at the first one an interrupt cuts.

    numpy's and scikit-learn's thread pools are held at one thread
    throughout (torch's are not), so the start's steps give the same result
    whatever the machine's threads (see ``_determinism``).
    """
    for name, stage in stages:
        try:
            with stage_timer(name, ctx.verbose), single_threaded_numerics():
                stage(ctx)
        except KeyboardInterrupt:
            return WarmupResult(interrupted_stage=name)
    targets = None if ctx.labels is None else ctx.labels.targets
    return WarmupResult(
        neighbors=ctx.neighbors, class_targets=targets, clusters_set=True
    )


# ----------------------------------------------------------------- helpers
def set_prior_from_clusters(ctx: WarmupContext, resp: np.ndarray) -> None:
    """Fit p(z | y) and p(y) to the codes' clusters ``resp`` and narrow
    q(z | x, y)."""
    module = ctx.module
    device = module_device(module)
    codes = ctx.codes.astype(np.float64)
    means, var = gaussian_moments(codes, resp, reg_covar=ctx.settings.start.reg_covar)
    var = torch.as_tensor(var, dtype=torch.float32, device=device)
    module.set_prior(torch.as_tensor(means, dtype=torch.float32, device=device), var)
    module.set_posterior_variance(ctx.settings.posterior_variance_ratio * var.mean(0))
    module.set_mixture_weights(
        torch.as_tensor(mixture_weights(resp), dtype=torch.float32, device=device)
    )


def _start_classes(responsibilities: np.ndarray, device: torch.device) -> torch.Tensor:
    """Each row's class at the start, -1 where the start gave none (equal
    responsibilities for every class)."""
    classes = responsibilities.argmax(1)
    classes[responsibilities.max(1) <= responsibilities.min(1)] = -1
    return torch.as_tensor(classes, dtype=torch.long, device=device)


def _qy_stage_epochs(ctx: WarmupContext) -> int:
    return min(ctx.pretrain_epochs, ctx.settings.qy_stage_epochs)


def _train_stage(
    ctx: WarmupContext,
    name: str,
    data,
    objective: Objective,
    n_epochs: int,
    rate_factor: float = 1.0,
    **adam_options: float,
) -> None:
    """Train ``objective`` for ``n_epochs`` with a fresh Adam at
    ``rate_factor`` times the learning rate (given ``adam_options``, such as
    ``eps``).

    Raises ``KeyboardInterrupt`` again when the training loop was
    interrupted (it has already restored the last completed epoch).
    """
    learning_rate = ctx.learning_rate * rate_factor
    state = TrainingState(make_optimizer(ctx.module, learning_rate, **adam_options))
    report = epoch_printer(name, n_epochs) if ctx.verbose else None
    result = train(
        ctx.module,
        data,
        objective,
        state,
        FixedEpochs(n_epochs),
        ctx.config,
        ctx.generator,
        on_epoch_end=report,
    )
    if result.interrupted:
        raise KeyboardInterrupt

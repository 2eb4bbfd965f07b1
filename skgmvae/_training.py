"""The training loop: epochs of shuffled mini-batches, schedules, stopping.

Nothing here knows about scikit-learn. The loop works on a float32 tensor
already on the training device and avoids host-device synchronisation inside
an epoch: per-batch loss terms are accumulated on the device and read once
per epoch.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from skgmvae._module import GMVAE, Categorical, LossTerms
from skgmvae._validation import NonFiniteError

# Names of the logged loss terms, in the order they are accumulated.
TERMS = ("loss", "reconstruction", "kl_z", "kl_y")


@dataclass
class TrainingConfig:
    """Settings of one training run (see ``GMVAEClustering`` for meanings)."""

    max_epochs: int
    batch_size: int
    learning_rate: float
    categorical: Categorical
    hard: bool
    temperature_init: float
    temperature_min: float
    temperature_halflife: float
    weights: tuple[float, float, float]
    tol: float
    n_iter_no_change: int
    precision: str = "float32"
    max_nan_recoveries: int = 3


def temperature_at(step: int, config: TrainingConfig) -> float:
    """Gumbel-Softmax temperature after ``step`` optimizer steps.

    Exponential decay counted in steps, not epochs, so a small data set gets
    the same schedule per update as a large one.
    """
    decayed = config.temperature_init * 0.5 ** (step / config.temperature_halflife)
    return max(decayed, config.temperature_min)


@dataclass
class TrainingState:
    """What persists between calls: optimizer, step count, history."""

    optimizer: torch.optim.Optimizer
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class TrainingResult:
    n_epochs: int
    converged: bool
    interrupted: bool


def make_optimizer(module: GMVAE, learning_rate: float) -> torch.optim.Optimizer:
    # The fused kernel updates all parameters in one pass: on CPU about three
    # times faster than the default per-tensor loop, which matters with
    # small batches where the update is a large share of a step.
    return torch.optim.Adam(module.parameters(), lr=learning_rate, fused=True)


LossFn = Callable[[GMVAE, torch.Tensor, int], LossTerms]


def elbo_loss_fn(
    config: TrainingConfig,
    generator: torch.Generator,
    neighbors: NeighborTerm | None = None,
) -> LossFn:
    """The negative ELBO of ``config``, with the temperature of the current step.

    With ``neighbors``, batches are row indices into ``neighbors.X`` and the
    neighbour consistency and balance terms of :class:`NeighborTerm` are
    added.
    """

    def loss_fn(module: GMVAE, batch, step: int) -> LossTerms:
        x, logits, extra = batch, None, None
        if neighbors is not None:
            x, logits, extra = neighbors.rows_logits_and_loss(module, batch)
        terms = module.loss(
            x,
            categorical=config.categorical,
            temperature=temperature_at(step, config),
            hard=config.hard,
            generator=generator,
            weights=config.weights,
            qy_logits=logits,
        )
        if extra is not None:
            terms.total = terms.total + extra
        return terms

    return loss_fn


def neighbor_loss_fn(term: NeighborTerm) -> LossFn:
    """The neighbour consistency and balance terms alone, on q(y | x)."""

    def loss_fn(module: GMVAE, batch, step: int) -> LossTerms:
        _, _, value = term.rows_logits_and_loss(module, batch)
        zero = torch.zeros_like(value)
        return LossTerms(zero, zero, value, value)

    return loss_fn


@dataclass
class NeighborTerm:
    """Neighbour consistency and cluster balance added to the negative ELBO.

    For each sample i of a batch, one of its nearest neighbours j (rows of
    ``indices``) is drawn, and ``consistency_weight * -log sum_k q(k|x_i)
    q(k|x_j)`` rewards giving both the same cluster; ``balance_weight *
    KL(mean_i q(y|x_i) || uniform)`` over the batch keeps that from merging
    clusters. Neither changes the generative model or its ELBO.
    """

    X: torch.Tensor
    indices: torch.Tensor
    consistency_weight: float
    balance_weight: float
    generator: torch.Generator

    def rows_logits_and_loss(
        self, module: GMVAE, index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch ``X[index]``, its q(y | x) logits, and the terms.

        The batch and its drawn neighbours are gathered in one indexing and
        go through the cluster encoder as one stacked batch: the same result
        as two passes, but larger matrix products, which run closer to the
        hardware's peak, and no copy to stack them.
        """
        n_neighbors = self.indices.shape[1]
        pick = torch.randint(
            n_neighbors, index.shape, generator=self.generator, device=index.device
        )
        rows = self.X.index_select(0, torch.cat([index, self.indices[index, pick]]))
        batch_size = index.shape[0]
        logits, neighbor_logits = module.qy_logits(rows).split(batch_size)
        q_i = torch.softmax(logits, dim=-1)
        q_j = torch.softmax(neighbor_logits, dim=-1)
        agreement = (q_i * q_j).sum(-1).clamp_min(1e-8)
        q_mean = q_i.mean(0)
        balance = (q_mean * torch.log(q_mean.clamp_min(1e-8))).sum() + math.log(
            q_i.shape[1]
        )
        loss = (
            -self.consistency_weight * torch.log(agreement)
            + self.balance_weight * balance
        )
        return rows[:batch_size], logits, loss


def autoencoder_loss_fn(module: GMVAE, batch: torch.Tensor, step: int) -> LossTerms:
    return module.autoencoder_loss(batch)


def alignment_loss_fn(
    module: GMVAE, batch: tuple[torch.Tensor, torch.Tensor], step: int
) -> LossTerms:
    x, target = batch
    return module.alignment_loss(x, target)


def train(
    module: GMVAE,
    X: torch.Tensor | tuple[torch.Tensor, ...],
    config: TrainingConfig,
    state: TrainingState,
    generator: torch.Generator,
    loss_fn: LossFn,
    *,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainingResult:
    """Run up to ``config.max_epochs`` epochs of Adam on the negative ELBO.

    Stops early once the epoch loss has failed to improve by a relative
    ``tol`` for ``n_iter_no_change`` consecutive epochs. A non-finite epoch
    loss restores the last finite state and retries with a ten times smaller
    learning rate, up to ``max_nan_recoveries`` times, then raises
    ``NonFiniteError`` (a ``FloatingPointError`` and ``ValueError``). Weights
    that became non-finite in an epoch's last step count as a non-finite
    loss. ``KeyboardInterrupt`` stops training, keeps the
    last finite state and returns with ``interrupted=True``.
    """
    n_samples = (X[0] if isinstance(X, tuple) else X).shape[0]
    best_loss = math.inf
    epochs_no_improvement = 0
    recoveries = 0
    good = _snapshot(module, state)
    epoch = 0
    converged = False
    interrupted = False
    module.train()
    try:
        while epoch < config.max_epochs:
            tic = time.perf_counter()
            sums = _run_epoch(module, X, config, state, generator, loss_fn)
            values = (sums / n_samples).tolist()  # the one sync per epoch
            if not all(math.isfinite(v) for v in values) or not _finite(module):
                recoveries += 1
                if recoveries > config.max_nan_recoveries:
                    _restore(module, state, good)
                    raise NonFiniteError(
                        "The training loss became NaN or infinite "
                        f"{recoveries} times, even after lowering the learning "
                        "rate. Likely causes: a learning rate that is too high, "
                        "unscaled input with extreme values, or the Bernoulli "
                        "likelihood on data outside [0, 1]."
                    )
                _restore(module, state, good)
                for group in state.optimizer.param_groups:
                    group["lr"] *= 0.1
                warnings.warn(
                    "Non-finite training loss; restored the last finite state "
                    "and lowered the learning rate tenfold.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            epoch += 1
            record = dict(zip(TERMS, values, strict=True))
            record["temperature"] = temperature_at(state.step, config)
            record["seconds"] = time.perf_counter() - tic
            state.history.append(record)
            good = _snapshot(module, state)
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
            # The first epoch always improves on best_loss = inf (the relative
            # threshold inf - tol * inf would be NaN, which nothing beats).
            if math.isinf(best_loss) or (
                record["loss"] < best_loss - config.tol * abs(best_loss)
            ):
                epochs_no_improvement = 0
            else:
                epochs_no_improvement += 1
            best_loss = min(best_loss, record["loss"])
            if epochs_no_improvement >= config.n_iter_no_change:
                converged = True
                break
    except KeyboardInterrupt:
        _restore(module, state, good)
        interrupted = True
        warnings.warn(
            f"Training interrupted after {epoch} epochs; the model keeps the "
            "state of the last completed epoch.",
            RuntimeWarning,
            stacklevel=2,
        )
    finally:
        module.eval()
    return TrainingResult(n_epochs=epoch, converged=converged, interrupted=interrupted)


def _run_epoch(
    module: GMVAE,
    X: torch.Tensor | tuple[torch.Tensor, ...],
    config: TrainingConfig,
    state: TrainingState,
    generator: torch.Generator,
    loss_fn: LossFn,
) -> torch.Tensor:
    """One pass over ``X`` in a random order; returns summed loss terms."""
    tensors = X if isinstance(X, tuple) else (X,)
    n_samples = tensors[0].shape[0]
    device = tensors[0].device
    order = torch.randperm(n_samples, generator=generator, device=device)
    sums = torch.zeros(len(TERMS), device=device)
    # Mixed precision: matrix products in bfloat16, weights, optimizer state
    # and the loss's reductions in float32 (the module casts its outputs).
    autocast = torch.autocast(
        device.type,
        dtype=torch.bfloat16,
        enabled=config.precision == "bfloat16",
    )
    for start in range(0, n_samples, config.batch_size):
        index = order[start : start + config.batch_size]
        batch = tuple(tensor.index_select(0, index) for tensor in tensors)
        if len(batch) == 1:
            batch = batch[0]
        with autocast:
            terms = loss_fn(module, batch, state.step)
        loss = terms.total.mean()
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.step += 1
        with torch.no_grad():
            sums += torch.stack(
                [
                    terms.total.sum(),
                    terms.reconstruction.sum(),
                    terms.kl_z.sum(),
                    terms.kl_y.sum(),
                ]
            )
    return sums


def _finite(module: GMVAE) -> bool:
    """Whether every weight of ``module`` is finite (one device sync)."""
    flags = [torch.isfinite(p).all() for p in module.parameters()]
    return bool(torch.stack(flags).all())


@torch.no_grad()
def permute_clusters(
    module: GMVAE, optimizer: torch.optim.Optimizer, order: torch.Tensor
) -> None:
    """Renumber the clusters: new cluster ``i`` is old cluster ``order[i]``.

    Permutes every cluster-indexed parameter (and its optimizer moments), so
    the model, and further training, are unchanged up to the numbering.
    """
    for tensor in module.cluster_indexed_tensors():
        index = order.to(tensor.device)
        tensor.copy_(tensor.index_select(0, index))
        for moment in optimizer.state.get(tensor, {}).values():
            if isinstance(moment, torch.Tensor) and moment.shape == tensor.shape:
                moment.copy_(moment.index_select(0, index))


def _snapshot(module: GMVAE, state: TrainingState) -> tuple[dict, dict, int]:
    return (
        copy.deepcopy(module.state_dict()),
        copy.deepcopy(state.optimizer.state_dict()),
        state.step,
    )


def _restore(module: GMVAE, state: TrainingState, snapshot: tuple) -> None:
    module_state, optimizer_state, step = snapshot
    module.load_state_dict(module_state)
    state.optimizer.load_state_dict(optimizer_state)
    state.step = step

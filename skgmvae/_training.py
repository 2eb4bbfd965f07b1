"""The training loop: epochs of shuffled mini-batches, recovery, stopping.

Nothing here knows about scikit-learn or about any particular loss: the loop
receives an objective (see :mod:`skgmvae._losses`) and a stopping rule. It
works on tensors already on the training device and avoids host-device
synchronisation inside an epoch: per-batch loss terms are accumulated on the
device and read once per epoch.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from skgmvae._losses import Objective
from skgmvae._module import GMVAE
from skgmvae._validation import NonFiniteError
from skgmvae._warnings import warn

# batch_size="auto": 128 rows, 256 from _LARGE_DATA samples on, 512 from
# _VERY_LARGE_DATA on. Larger batches run the matrix products closer to the
# hardware's peak; 512 rows still leave about 100 steps per epoch.
_LARGE_DATA = 10_000
_VERY_LARGE_DATA = 50_000
# Mini-batches are whole multiples of this many rows (see batch_bounds).
_ROW_QUANTUM = 32
# ... from this many quanta of data on (320 rows: at most 10% left over).
_MIN_UNITS = 10


def auto_batch_size(n_samples: int) -> int:
    """The mini-batch size of ``batch_size="auto"`` for ``n_samples`` samples.

    Small data sets need many updates per epoch; large ones can afford rows
    that keep the matrix products efficient.
    """
    if n_samples >= _VERY_LARGE_DATA:
        return 512
    return 256 if n_samples >= _LARGE_DATA else 128


@dataclass(frozen=True)
class TrainingConfig:
    """How batches are drawn and computed, whatever the objective."""

    batch_size: int
    precision: str = "float32"
    max_nan_recoveries: int = 3


# ----------------------------------------------------------------- stopping
class FixedEpochs:
    """Run exactly ``n_epochs`` epochs."""

    may_stop_early = False

    def __init__(self, n_epochs: int) -> None:
        self.max_epochs = n_epochs

    def update(self, record: dict[str, float]) -> bool:
        """Record an epoch; never asks to stop before ``max_epochs``."""
        return False


class ClusterStability:
    """Stop once the clusters have been stable for ``n_iter_no_change`` epochs.

    An epoch is stable when at most a fraction ``tol`` of the samples changed
    their most probable cluster since the previous epoch (the record's
    ``"changed"``, which the training loop measures where the objective
    reports clusters). Like the stopping rules of k-means and DEC, this
    watches the clustering itself rather than a stochastic loss, which keeps
    fluctuating long after the clusters have settled. At most
    ``max_epochs`` epochs run.
    """

    may_stop_early = True

    def __init__(self, max_epochs: int, tol: float, n_iter_no_change: int) -> None:
        self.max_epochs = max_epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.stable_epochs = 0

    def update(self, record: dict[str, float]) -> bool:
        """Record an epoch; True when training has converged."""
        if record.get("changed", 1.0) <= self.tol:
            self.stable_epochs += 1
        else:
            self.stable_epochs = 0
        return self.stable_epochs >= self.n_iter_no_change


Stopping = FixedEpochs | ClusterStability


# ------------------------------------------------------------------- state
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


def make_optimizer(
    module: GMVAE, learning_rate: float, eps: float = 1e-8
) -> torch.optim.Optimizer:
    # The fused kernel updates all parameters in one pass: on CPU about three
    # times faster than the default per-tensor loop, which matters with
    # small batches where the update is a large share of a step.
    return torch.optim.Adam(module.parameters(), lr=learning_rate, eps=eps, fused=True)


# -------------------------------------------------------------------- loop
def train(
    module: GMVAE,
    data: torch.Tensor | tuple[torch.Tensor, ...],
    objective: Objective,
    state: TrainingState,
    stopping: Stopping,
    config: TrainingConfig,
    generator: torch.Generator,
    *,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainingResult:
    """Minimise ``objective`` with ``state.optimizer`` until ``stopping`` says.

    ``data`` holds the rows batches are drawn from (a tuple is indexed
    together). Each epoch appends a record of the mean loss and of each
    named term per sample, the objective's epoch metrics and the seconds
    taken to ``state.history``. A non-finite epoch loss restores the last
    finite state and retries with a ten times smaller learning rate, up to
    ``max_nan_recoveries`` times, then raises ``NonFiniteError`` (a
    ``FloatingPointError`` and ``ValueError``). Weights that became
    non-finite in an epoch's last step count as a non-finite loss.
    ``KeyboardInterrupt`` stops training, keeps the last finite state and
    returns with ``interrupted=True``.
    """
    n_samples = (data[0] if isinstance(data, tuple) else data).shape[0]
    recoveries = 0
    previous = None  # each sample's cluster in the last completed epoch
    good = _Checkpoint(module, state)
    epoch = 0
    converged = False
    interrupted = False
    module.train()
    try:
        while epoch < stopping.max_epochs:
            tic = time.perf_counter()
            names, sums, clusters, n_used = _run_epoch(
                module, data, objective, state, config, generator
            )
            values, changed, clusters = _read_epoch(
                sums / n_used, clusters, previous, n_samples
            )
            if not all(math.isfinite(v) for v in values) or not _finite(module):
                recoveries += 1
                _recover(good, state, recoveries, config.max_nan_recoveries)
                continue
            epoch += 1
            record = dict(zip(names, values, strict=True))
            if clusters is not None:
                record["changed"] = changed
                previous = clusters
            record.update(objective.epoch_metrics(state.step))
            record["seconds"] = time.perf_counter() - tic
            state.history.append(record)
            good.save()
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
            if stopping.update(record):
                converged = True
                break
    except KeyboardInterrupt:
        good.restore()
        interrupted = True
        warn(
            f"Training interrupted after {epoch} epochs; the model keeps the "
            "state of the last completed epoch.",
            RuntimeWarning,
        )
    finally:
        module.eval()
    return TrainingResult(n_epochs=epoch, converged=converged, interrupted=interrupted)


class WeightAverage:
    """The running mean of a module's parameters, one sample at a time.

    Stochastic gradient steps keep moving around a minimum rather than
    settling in it; the mean of the weights they pass through lies nearer
    its centre than any of them (stochastic weight averaging, Izmailov et
    al., 2018). Kept in float64, so the order of the samples does not round
    the mean. Buffers are not averaged: they stay the module's own.
    """

    def __init__(self, module: GMVAE) -> None:
        self.n_samples = 0
        self.mean = [
            torch.zeros_like(p, dtype=torch.float64) for p in module.parameters()
        ]

    @torch.no_grad()
    def update(self, module: GMVAE) -> None:
        """Add the module's current parameters to the mean."""
        self.n_samples += 1
        for mean, param in zip(self.mean, module.parameters(), strict=True):
            mean.add_((param.double() - mean) / self.n_samples)

    @torch.no_grad()
    def copy_to(self, module: GMVAE) -> None:
        """Set the module's parameters to the mean."""
        for mean, param in zip(self.mean, module.parameters(), strict=True):
            param.copy_(mean)


def train_averaged(
    module: GMVAE,
    data: torch.Tensor | tuple[torch.Tensor, ...],
    objective: Objective,
    state: TrainingState,
    n_epochs: int,
    config: TrainingConfig,
    generator: torch.Generator,
    *,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainingResult:
    """Train ``n_epochs`` more epochs, then keep the mean of the weights at
    the start and after each epoch (:class:`WeightAverage`).

    Recovery and interruption are those of :func:`train`; an interrupted
    call keeps the mean of the epochs it completed.
    """
    average = WeightAverage(module)
    average.update(module)

    def after_epoch(epoch: int, record: dict[str, float]) -> None:
        average.update(module)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)

    result = train(
        module,
        data,
        objective,
        state,
        FixedEpochs(n_epochs),
        config,
        generator,
        on_epoch_end=after_epoch,
    )
    average.copy_to(module)
    return result


def _read_epoch(
    stats: torch.Tensor,
    clusters: torch.Tensor | None,
    previous: torch.Tensor | None,
    n_samples: int,
) -> tuple[list[float], float, torch.Tensor | None]:
    """The epoch's mean terms, the share of samples whose cluster changed
    since ``previous`` (1.0 with nothing to compare) and each sample's
    cluster, read from the device in one synchronisation."""
    compare = clusters is not None and previous is not None
    if compare:
        # Rows this epoch left out keep their previous cluster.
        clusters = torch.where(clusters < 0, previous, clusters)
        n_changed = (clusters != previous).sum().to(stats.dtype)
        stats = torch.cat([stats, n_changed.reshape(1)])
    values = stats.tolist()
    # A count, divided in double precision.
    changed = values.pop() / n_samples if compare else 1.0
    return values, changed, clusters


def _recover(
    good: _Checkpoint, state: TrainingState, recoveries: int, max_recoveries: int
) -> None:
    """Go back to the last finite state after a non-finite epoch, and retry
    with a tenfold lower learning rate; raise after ``max_recoveries``."""
    good.restore()
    if recoveries > max_recoveries:
        raise NonFiniteError(
            "The training loss became NaN or infinite "
            f"{recoveries} times, even after lowering the learning "
            "rate. Likely causes: a learning rate that is too high, "
            "unscaled input with extreme values, or the Bernoulli "
            "likelihood on data outside [0, 1]."
        )
    _lower_learning_rate(state)


def _lower_learning_rate(state: TrainingState) -> None:
    for group in state.optimizer.param_groups:
        group["lr"] *= 0.1
    warn(
        "Non-finite training loss; restored the last finite state "
        "and lowered the learning rate tenfold.",
        RuntimeWarning,
    )


def _run_epoch(
    module: GMVAE,
    data: torch.Tensor | tuple[torch.Tensor, ...],
    objective: Objective,
    state: TrainingState,
    config: TrainingConfig,
    generator: torch.Generator,
) -> tuple[list[str], torch.Tensor, torch.Tensor | None, int]:
    """One pass over ``data`` in a random order.

    Returns the names of the logged values (``"loss"`` first, then the
    objective's terms), their sums over the epoch as one tensor, each
    sample's most probable cluster when the objective reports them (as the
    batch containing the sample computed it; -1 for the rows the epoch left
    out), else None, and the number of rows the epoch used.
    """
    tensors = data if isinstance(data, tuple) else (data,)
    n_samples = tensors[0].shape[0]
    device = tensors[0].device
    order = torch.randperm(n_samples, generator=generator, device=device)
    names, sums, clusters = [], None, None
    bounds = batch_bounds(n_samples, config.batch_size)
    # Mixed precision: matrix products in bfloat16, weights, optimizer state
    # and the loss's reductions in float32 (the module casts its outputs).
    autocast = torch.autocast(
        device.type,
        dtype=torch.bfloat16,
        enabled=config.precision == "bfloat16",
    )
    for start, stop in bounds:
        index = order[start:stop]
        batch = tuple(tensor.index_select(0, index) for tensor in tensors)
        if len(batch) == 1:
            batch = batch[0]
        with autocast:
            out = objective(module, batch, state.step)
        loss = out.loss.mean()
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.step += 1
        with torch.no_grad():
            if sums is None:
                names = ["loss", *out.terms]
                sums = torch.zeros(len(names), device=device)
                if out.clusters is not None:
                    # -1 for the rows this epoch leaves out (batch_bounds)
                    clusters = torch.full(
                        (n_samples,), -1, dtype=torch.long, device=device
                    )
            if clusters is not None:
                clusters.index_copy_(0, index, out.clusters)
            sums += torch.stack(
                [out.loss.sum(), *(t.sum() for t in out.terms.values())]
            )
    return names, sums, clusters, bounds[-1][1]


def batch_bounds(n_samples: int, batch_size: int) -> list[tuple[int, int]]:
    """Start and stop of each mini-batch of an epoch over ``n_samples`` rows.

    From ``_MIN_UNITS * _ROW_QUANTUM`` rows on: batches of whole multiples
    of ``_ROW_QUANTUM`` rows, at most ``batch_size``, as few and as equal as
    that allows; the fewer than ``_ROW_QUANTUM`` rows left over sit this
    epoch out (a different random few each epoch, as the order is
    shuffled). MKL splits a product's rows between threads, and the
    rows at the end of a split that is not a multiple of a few rows are
    summed by another kernel: with such batch sizes the result depends on
    the thread count. On smaller data, where the rows left over would be
    too large a share, or with a ``batch_size`` below the quantum: full
    batches and a last, smaller one, covering every row.
    """
    units = n_samples // _ROW_QUANTUM
    if batch_size < _ROW_QUANTUM or units < _MIN_UNITS:
        edges = [*range(0, n_samples, batch_size), n_samples]
    else:
        n_batches = math.ceil(units / (batch_size // _ROW_QUANTUM))
        edges = [
            _ROW_QUANTUM * ((i * units) // n_batches) for i in range(n_batches + 1)
        ]
    return list(itertools.pairwise(edges))


def steps_per_epoch(n_samples: int, config: TrainingConfig) -> int:
    """Optimizer steps in an epoch over ``n_samples`` rows: the number of
    batches :func:`batch_bounds` gives, not ``ceil(n_samples / batch_size)``."""
    return len(batch_bounds(n_samples, config.batch_size))


def _finite(module: GMVAE) -> bool:
    """Whether every weight of ``module`` is finite (one device sync).

    A sum with an infinite or NaN term is not finite, so a finite sum of
    the weights settles it; only a sum that overflowed needs the check of
    each weight. Summing is several times cheaper than ``isfinite``, and
    this runs after every epoch, which on small data is a step or two.
    """
    params = list(module.parameters())
    if bool(torch.stack([p.sum() for p in params]).sum().isfinite()):
        return True
    return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())


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


class _Checkpoint:
    """The module's and the optimizer's state after the last finite epoch.

    Each save copies the state into the tensors of the last save, instead
    of copying it afresh: on small data an epoch is a step or two, and
    allocating and deep-copying the whole state after each one took longer
    than the steps. Only tensors new since the last save (the optimizer's
    moments after its first step) are cloned; the module and the optimizer
    keep their shapes through a call of :func:`train`.
    """

    def __init__(self, module: GMVAE, state: TrainingState) -> None:
        self._module = module
        self._state = state
        self._tensors: dict[tuple, torch.Tensor] = {}
        self.save()

    def save(self) -> None:
        previous, self._tensors = self._tensors, {}

        def keep(key: tuple, value):
            if not isinstance(value, torch.Tensor):
                return copy.deepcopy(value)
            old = previous.get(key)
            kept = value.detach().clone() if old is None else old.copy_(value)
            self._tensors[key] = kept
            return kept

        live = self._module.state_dict()
        self._module_state = type(live)(
            (name, keep(("module", name), t)) for name, t in live.items()
        )
        self._module_state._metadata = getattr(live, "_metadata", None)
        optimizer = self._state.optimizer.state_dict()
        self._optimizer_state = {
            "state": {
                index: {key: keep((index, key), v) for key, v in moments.items()}
                for index, moments in optimizer["state"].items()
            },
            "param_groups": copy.deepcopy(optimizer["param_groups"]),
        }
        self._step = self._state.step

    def restore(self) -> None:
        self._module.load_state_dict(self._module_state)
        # A deep copy: the optimizer keeps the tensors it loads and updates
        # them in place, which would change this checkpoint.
        self._state.optimizer.load_state_dict(copy.deepcopy(self._optimizer_state))
        self._state.step = self._step

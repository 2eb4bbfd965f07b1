"""Every objective the GMVAE is trained on, with its terms named.

Each loss function maps a batch to a :class:`LossOutput`: the per-sample
value the optimizer minimises and the named terms it is made of, so the
training loop can log any objective without knowing it. The objectives
(:class:`ElboObjective` and the warm-up's :class:`AutoencoderObjective`,
:class:`AlignmentObjective` and :class:`NeighborObjective`) bind a loss to
its settings and are what :func:`skgmvae._training.train` receives.

Per-sample terms of the negative ELBO, for a batch of ``x``:

- ``reconstruction``: ``-log p(x | z)``;
- ``kl_z``: ``log q(z | x, y) - log p(z | y)`` at the sampled ``z``;
- ``kl_y``: ``KL(q(y | x) || p(y))``.

For a row whose class is known (the semi-supervised M2 model), y is
observed: ``z`` is drawn from ``q(z | x, y)`` at that class and ``kl_y``
becomes ``-log p(y)``.

The neighbour terms (``consistency`` and ``balance``) and the
``classification`` term of labelled rows are not part of the generative
model; they shape ``q(y | x)`` only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from skgmvae._distributions import (
    gumbel_softmax,
    kl_categorical,
    log_normal,
    softmax,
)
from skgmvae._module import GMVAE, Categorical
from skgmvae._neighbors import Neighbors

# Seed of the fixed noise vector shared by all samples in the exact ELBO.
_SCORE_NOISE_SEED = 0
# The share of the batch's other samples in the balance term's estimate of
# the data's mean q(y | x); the rest is the running mean (see NeighborTerms).
_BATCH_SHARE = 0.5


@dataclass
class LossOutput:
    """Per-sample loss and its named terms, each of shape ``(batch,)``.

    ``loss`` is what the optimizer minimises (its batch mean). ``terms``
    holds the parts worth logging, by name: the unweighted ELBO terms, and
    the neighbour terms as added to the loss. ``clusters``, where the
    objective computes q(y | x), is each row's most probable cluster, from
    which the training loop measures how many samples change cluster.
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    clusters: torch.Tensor | None = None


# ----------------------------------------------------------------- the ELBO
@dataclass(frozen=True)
class ElboSettings:
    """How the negative ELBO is estimated and weighted during training."""

    categorical: Categorical = "gumbel"
    hard: bool = False
    temperature_init: float = 1.0
    temperature_min: float = 0.5
    temperature_halflife: float = 2000.0
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)


def temperature_at(step: int, settings: ElboSettings) -> float:
    """Gumbel-Softmax temperature after ``step`` optimizer steps.

    Exponential decay counted in steps, not epochs, so a small data set gets
    the same schedule per update as a large one.
    """
    decayed = settings.temperature_init * 0.5 ** (step / settings.temperature_halflife)
    return max(decayed, settings.temperature_min)


def _mix(y: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``y @ rows`` for ``(batch, K)`` weights and ``(K, D)`` rows.

    As a broadcast sum, not a matrix product: the gradient of ``rows`` would
    then be a product of K rows summed over the batch, which MKL computes
    differently on different numbers of threads for some K and D (see
    ``_determinism``). The tensor is only ``batch * K * D`` floats.
    """
    return (y.unsqueeze(-1) * rows).sum(1)


def negative_elbo(
    module: GMVAE,
    x: torch.Tensor,
    *,
    categorical: Categorical,
    temperature: float,
    hard: bool,
    generator: torch.Generator | None,
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    qy_logits: torch.Tensor | None = None,
    observed_y: torch.Tensor | None = None,
) -> LossOutput:
    """Single-sample estimate of the weighted negative ELBO of a batch.

    ``categorical="gumbel"`` draws one relaxed y per sample (the reference
    GMVAE); ``"marginal"`` sums exactly over the K values of y, weighted by
    q(y | x), and draws one z per value. ``qy_logits``, if given, are the
    logits of q(y | x) for ``x``, already computed by the caller.
    ``observed_y``, if given, holds each row's class, or -1 where it is
    unknown: known rows take y one-hot at their class instead of inferring
    it, and ``-log p(y)`` instead of ``KL(q(y | x) || p(y))`` (M2's
    labelled ELBO).
    """
    logits = module.qy_logits(x) if qy_logits is None else qy_logits
    known = None if observed_y is None else observed_y >= 0
    if categorical == "gumbel":
        y = gumbel_softmax(logits, temperature, hard=hard, generator=generator)
        if known is not None:
            y = _observe(y, known, observed_y)
        loc, logvar = module.qz_params(x, y)
        z = _reparameterize(loc, logvar, generator)
        reconstruction = -module.log_px(x, module.decode(z))
        prior_loc, prior_logvar = module.prior_params()
        kl_z = log_normal(z, loc, logvar) - log_normal(
            z, _mix(y, prior_loc), _mix(y, prior_logvar)
        )
    else:
        qy = softmax(logits)
        if known is not None:
            qy = _observe(qy, known, observed_y)
        loc, logvar = module.qz_params_all(x)
        z = _reparameterize(loc, logvar, generator)
        reconstruction, kl_z = _expected_terms(module, x, qy, loc, logvar, z)
    kl_y = kl_categorical(logits, module.log_prior_y)
    if known is not None:
        log_py = module.log_prior_y[observed_y.clamp_min(0)]
        kl_y = torch.where(known, -log_py, kl_y)
    w_rec, w_z, w_y = weights
    total = w_rec * reconstruction + w_z * kl_z + w_y * kl_y
    return LossOutput(
        total,
        {"reconstruction": reconstruction, "kl_z": kl_z, "kl_y": kl_y},
        clusters=logits.detach().argmax(-1),
    )


def _observe(
    y: torch.Tensor, known: torch.Tensor, observed_y: torch.Tensor
) -> torch.Tensor:
    """``y`` with the rows of known class replaced by their one-hot class."""
    one_hot = F.one_hot(observed_y.clamp_min(0), y.shape[-1]).to(y.dtype)
    return torch.where(known.unsqueeze(-1), one_hot, y)


def _expected_terms(
    module: GMVAE,
    x: torch.Tensor,
    qy: torch.Tensor,
    loc: torch.Tensor,
    logvar: torch.Tensor,
    z: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reconstruction and z terms averaged over q(y | x), per sample.

    ``loc``, ``logvar`` and ``z`` come from :meth:`GMVAE.qz_params_all`:
    ``(batch, K, D)``, or ``(batch, 1, D)`` without a conditional encoder,
    where one decode per sample then serves every cluster.
    """
    prior_loc, prior_logvar = module.prior_params()
    rec_k = -module.log_px(x.unsqueeze(1), module.decode(z))
    kl_k = log_normal(z, loc, logvar) - log_normal(z, prior_loc, prior_logvar)
    return (qy * rec_k).sum(-1), (qy * kl_k).sum(-1)


def _reparameterize(
    loc: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    eps = torch.randn(
        loc.shape, generator=generator, device=loc.device, dtype=loc.dtype
    )
    return loc + eps * torch.exp(0.5 * logvar)


# Clusters below this posterior probability are left out of the exact
# ELBO's sum over y: their terms weigh less than a millionth each.
_NEGLIGIBLE_QY = 1e-6


@torch.no_grad()
def exact_negative_elbo(
    module: GMVAE, x: torch.Tensor, eps: torch.Tensor
) -> LossOutput:
    """Negative ELBO per sample, y summed out and z = loc + std * eps.

    ``eps`` has shape ``(latent_dim,)`` and is shared by every sample, so the
    result is a deterministic, batch-independent Monte Carlo estimate (common
    random numbers): what ``score`` and ``lower_bound_`` report. With a
    conditional encoder q(z | x, y) the sum over y skips the clusters with
    q(y | x) below ``_NEGLIGIBLE_QY``: a trained model is sure of most
    samples' cluster, so this decodes one or two clusters per sample instead
    of all K, with terms changed by less than a millionth of the skipped
    clusters' reconstruction and z terms.
    """
    logits = module.qy_logits(x)
    qy = softmax(logits)
    if module.conditional_encoder:
        rec, kl_z = _likely_cluster_terms(module, x, eps, qy)
    else:
        loc, logvar = module.qz_params_all(x)
        z = loc + eps * torch.exp(0.5 * logvar)
        rec, kl_z = _expected_terms(module, x, qy, loc, logvar, z)
    kl_y = kl_categorical(logits, module.log_prior_y)
    return LossOutput(
        rec + kl_z + kl_y, {"reconstruction": rec, "kl_z": kl_z, "kl_y": kl_y}
    )


def _likely_cluster_terms(
    module: GMVAE, x: torch.Tensor, eps: torch.Tensor, qy: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The expected reconstruction and z terms with q(z | x, y): one decode
    per sample and cluster of q(y | x) at least ``_NEGLIGIBLE_QY``."""
    rows, clusters = torch.nonzero(qy >= _NEGLIGIBLE_QY, as_tuple=True)
    x_pairs = x.index_select(0, rows)
    loc, logvar = module.qz_params(
        x_pairs, F.one_hot(clusters, qy.shape[1]).to(x.dtype)
    )
    z = loc + eps * torch.exp(0.5 * logvar)
    prior_loc, prior_logvar = module.prior_params()
    rec_pairs = -module.log_px(x_pairs, module.decode(z))
    kl_pairs = log_normal(z, loc, logvar) - log_normal(
        z, prior_loc[clusters], prior_logvar[clusters]
    )
    weight = qy[rows, clusters]
    rec = _per_row(weight * rec_pairs, rows, clusters, qy)
    return rec, _per_row(weight * kl_pairs, rows, clusters, qy)


def _per_row(
    values: torch.Tensor, rows: torch.Tensor, clusters: torch.Tensor, like: torch.Tensor
) -> torch.Tensor:
    """Sum of each row's pair ``values``, through a dense ``(n, K)`` table so
    that every row's sum runs over the clusters in order (no scattered adds,
    whose order could depend on the threads)."""
    table = torch.zeros_like(like)
    table[rows, clusters] = values
    return table.sum(-1)


def score_noise(module: GMVAE) -> torch.Tensor:
    """The fixed noise vector of :func:`exact_negative_elbo`, on the module's device."""
    generator = torch.Generator().manual_seed(_SCORE_NOISE_SEED)
    eps = torch.randn(module.latent_dim, generator=generator)
    return eps.to(module.prior_loc.device)


# ------------------------------------------------------- warm-up objectives
def autoencoder_loss(module: GMVAE, x: torch.Tensor) -> LossOutput:
    """Reconstruction loss of the deterministic autoencoder x -> m(x, .) -> x.

    Warms up the encoder of z and the decoder before the mixture is fitted:
    y enters as the uniform vector, so no cluster is favoured.
    """
    reconstruction = -module.log_px(x, module.decode(module.autoencoder_code(x)))
    return LossOutput(reconstruction, {"reconstruction": reconstruction})


def alignment_loss(module: GMVAE, x: torch.Tensor, target: torch.Tensor) -> LossOutput:
    """Cross-entropy from initial cluster probabilities ``target`` to q(y | x).

    Teaches the cluster encoder the clusters the prior was initialised with,
    so that joint training starts from them instead of from a random
    q(y | x), which tends to collapse all data into one cluster.
    """
    cross_entropy = -(target * F.log_softmax(module.qy_logits(x), dim=-1)).sum(-1)
    return LossOutput(cross_entropy, {"alignment": cross_entropy})


@dataclass
class NeighborTerms:
    """Neighbour consistency and cluster balance, computed on q(y | x).

    For each sample i of a batch, one of its nearest neighbours j is drawn
    (by ``neighbors.affinity``), and ``consistency_weight * -log sum_k
    q(k|x_i) q(k|x_j)`` rewards giving both the same cluster;
    ``balance_weight * KL(mean q(y|x) || p(y))`` keeps that from merging
    clusters, or from moving samples between clusters against the mixture
    weights p(y) the warm-up set from the clusters' sizes. Neither changes
    the generative model or its ELBO.

    The balance term's gradient for sample i is ``log(m_i(y) / p(y))``,
    where ``m_i`` estimates the data's mean q(y | x) without sample i: half
    a running mean over the earlier batches (each weighted by its share of
    the data, so that it spans about one epoch) and half the mean of the
    batch's other samples. The batch's own mean, sample i included, is
    biased against small clusters: a cluster with about one sample per
    batch always looks over-represented to its own members, which the term
    then pushes into larger clusters at every step. A running mean alone
    reacts an epoch late, and while only the neighbour terms train, the
    consistency term can join clusters faster than that.
    """

    X: torch.Tensor
    neighbors: Neighbors
    consistency_weight: float
    balance_weight: float
    generator: torch.Generator
    marginal: torch.Tensor | None = field(default=None, init=False, repr=False)

    def draw(self, index: torch.Tensor) -> torch.Tensor:
        """One neighbour of each row in ``index``, drawn by its affinity."""
        drawn = torch.multinomial(
            self.neighbors.affinity[index], 1, generator=self.generator
        )
        return self.neighbors.indices[index].gather(1, drawn)[:, 0]

    def __call__(
        self, module: GMVAE, index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rows ``X[index]``, their q(y | x) logits, and both terms.

        The batch and its drawn neighbours are gathered in one indexing and
        go through the cluster encoder as one stacked batch: the same result
        as two passes, but larger matrix products, which run closer to the
        hardware's peak. The consistency term is per sample, the balance
        term one value for the batch.
        """
        rows = self.X.index_select(0, torch.cat([index, self.draw(index)]))
        batch_size = index.shape[0]
        logits, neighbor_logits = module.qy_logits(rows).split(batch_size)
        q_i = softmax(logits)
        q_j = softmax(neighbor_logits)
        agreement = (q_i * q_j).sum(-1).clamp_min(1e-8)
        balance = self._balance(module, q_i)
        consistency = -self.consistency_weight * torch.log(agreement)
        return rows[:batch_size], logits, consistency, self.balance_weight * balance

    def _balance(self, module: GMVAE, q: torch.Tensor) -> torch.Tensor:
        """``mean_i sum_y q(y|x_i) log(m_i(y) / p(y))`` for a batch's ``q``,
        then the batch joins the running mean (see the class)."""
        if self.marginal is None:
            self.marginal = module.log_prior_y.exp().detach()
        batch_size = q.shape[0]
        q_seen = q.detach()
        others = (q_seen.sum(0) - q_seen) / max(batch_size - 1, 1)
        estimate = torch.lerp(self.marginal, others, _BATCH_SHARE)
        log_ratio = torch.log(estimate.clamp_min(1e-8)) - module.log_prior_y
        rate = min(1.0, batch_size / self.X.shape[0])
        self.marginal = torch.lerp(self.marginal, q_seen.mean(0), rate)
        return (q * log_ratio).sum(-1).mean()


@dataclass
class LabelTerms:
    """M2's classification term: cross-entropy from the known classes to q(y | x).

    ``labels`` holds each row of ``X``'s class, or -1 where it is unknown.
    A batch's rows of known class contribute ``weight * -log q(y_i | x_i)``
    each; with ``targets`` (a class per row, -1 for none), so do the other
    rows, towards the class the start gave them. Where only some rows are
    labelled, every step also draws ``n_drawn`` labelled rows (with
    replacement) and adds the weighted mean of their cross-entropy to every
    row of the batch: a handful of labels then guides each step instead of
    the few batches that hold one. The ELBO alone does not teach q(y | x)
    the classes (Kingma et al., 2014, add this term with the weight alpha
    for that reason).
    """

    X: torch.Tensor
    labels: torch.Tensor
    weight: float
    n_drawn: int
    generator: torch.Generator
    targets: torch.Tensor | None = None
    labelled: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.labelled = torch.nonzero(self.labels >= 0).squeeze(1)

    def __call__(
        self, module: GMVAE, index: torch.Tensor, logits: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The classes of rows ``index`` (-1 unknown) and the per-row term."""
        observed = self.labels.index_select(0, index)
        target = observed
        if self.targets is not None:
            target = self.targets.index_select(0, index)
        cross_entropy = F.cross_entropy(logits, target.clamp_min(0), reduction="none")
        term = self.weight * torch.where(target >= 0, cross_entropy, 0.0)
        if self.n_drawn:
            term = term + self._drawn(module)
        return observed, term

    def _drawn(self, module: GMVAE) -> torch.Tensor:
        pick = torch.randint(
            self.labelled.shape[0],
            (self.n_drawn,),
            generator=self.generator,
            device=self.labelled.device,
        )
        rows = self.labelled.index_select(0, pick)
        logits = module.qy_logits(self.X.index_select(0, rows))
        return self.weight * F.cross_entropy(logits, self.labels.index_select(0, rows))


# ----------------------------------------------------------------- objectives
class Objective:
    """A training objective: ``objective(module, batch, step) -> LossOutput``.

    ``batch`` holds the rows the training loop gathered from its data (a
    tensor, or a tuple of tensors); ``step`` counts optimizer steps.
    ``epoch_metrics`` adds values such as a schedule's current setting to
    each epoch's record.
    """

    def __call__(self, module: GMVAE, batch, step: int) -> LossOutput:
        raise NotImplementedError

    def epoch_metrics(self, step: int) -> dict[str, float]:
        return {}


@dataclass
class ElboObjective(Objective):
    """The weighted negative ELBO, plus the neighbour terms when given.

    With ``neighbors`` or ``labels``, batches are row indices into their
    ``X``: the batch is gathered together with its drawn neighbours, and
    the rows of known class are given the labelled ELBO and the
    classification term.

    Before optimizer step ``hold_clusters_until``, q(y | x) is held: it is
    computed without gradients, so only q(z | x, y), the decoder and the
    priors learn, as an EM step fits the components before it reassigns
    the samples.
    """

    settings: ElboSettings
    generator: torch.Generator
    neighbors: NeighborTerms | None = None
    labels: LabelTerms | None = None
    hold_clusters_until: int = 0

    def __call__(self, module: GMVAE, batch, step: int) -> LossOutput:
        x, logits, observed = batch, None, None
        held = step < self.hold_clusters_until
        with torch.no_grad() if held else contextlib.nullcontext():
            if self.neighbors is not None:
                x, logits, consistency, balance = self.neighbors(module, batch)
            elif self.labels is not None:
                x = self.labels.X.index_select(0, batch)
            if logits is None:
                logits = module.qy_logits(x)
        if self.labels is not None:
            observed, classification = self.labels(module, batch, logits)
        settings = self.settings
        out = negative_elbo(
            module,
            x,
            categorical=settings.categorical,
            temperature=temperature_at(step, settings),
            hard=settings.hard,
            generator=self.generator,
            weights=settings.weights,
            qy_logits=logits,
            observed_y=observed,
        )
        if self.neighbors is not None:
            out.loss = out.loss + (consistency + balance)
            out.terms["consistency"] = consistency
            out.terms["balance"] = balance.expand_as(consistency)
        if self.labels is not None:
            out.loss = out.loss + classification
            out.terms["classification"] = classification
        return out

    def epoch_metrics(self, step: int) -> dict[str, float]:
        return {"temperature": temperature_at(step, self.settings)}


class AutoencoderObjective(Objective):
    """:func:`autoencoder_loss` on batches of rows."""

    def __call__(self, module: GMVAE, batch, step: int) -> LossOutput:
        return autoencoder_loss(module, batch)


class AlignmentObjective(Objective):
    """:func:`alignment_loss` on batches of ``(rows, target probabilities)``."""

    def __call__(self, module: GMVAE, batch, step: int) -> LossOutput:
        x, target = batch
        return alignment_loss(module, x, target)


@dataclass
class NeighborObjective(Objective):
    """The neighbour terms alone, on batches of row indices; with ``labels``
    also the classification term of the rows of known class."""

    neighbors: NeighborTerms
    labels: LabelTerms | None = None

    def __call__(self, module: GMVAE, batch, step: int) -> LossOutput:
        _, logits, consistency, balance = self.neighbors(module, batch)
        loss = consistency + balance
        terms = {"consistency": consistency, "balance": balance.expand_as(consistency)}
        if self.labels is not None:
            _, terms["classification"] = self.labels(module, batch, logits)
            loss = loss + terms["classification"]
        return LossOutput(loss, terms)

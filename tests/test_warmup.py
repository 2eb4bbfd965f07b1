"""Each warm-up stage on its own, the warm-up runner, and the objectives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score

from skgmvae import _warmup as warmup
from skgmvae._initialization import gaussian_moments
from skgmvae._losses import (
    AlignmentObjective,
    ElboObjective,
    ElboSettings,
    NeighborObjective,
    NeighborTerms,
    autoencoder_loss,
)
from skgmvae._module import GMVAE
from skgmvae._neighbors import nearest_neighbors, neighbor_draws
from skgmvae._training import (
    FixedEpochs,
    TrainingConfig,
    TrainingState,
    batch_bounds,
    train,
)
from skgmvae._training import make_optimizer as _optimizer
from skgmvae._warmup import (
    STAGES,
    WarmupContext,
    align_clusters,
    embed_codes,
    find_initial_clusters,
    pretrain_autoencoder,
    run_warmup,
    search_neighbors,
    set_prior_from_clusters,
    train_neighbor_terms,
)

pytestmark = pytest.mark.filterwarnings("error")

K = 3


@pytest.fixture
def blobs3():
    """Three separated blobs in 2 dimensions, 150 rows, and their labels."""
    X, y = make_blobs(
        n_samples=150, centers=K, n_features=2, cluster_std=0.5, random_state=1
    )
    return X.astype(np.float32), y


def _context(X, method="gmm", neighbor_weights=None, seed=0, n_clusters=K, **kwargs):
    module = GMVAE(X.shape[1], n_clusters, 2, (16,), "gaussian")
    module.reset_parameters(torch.Generator().manual_seed(seed))
    return WarmupContext(
        module=module,
        X=torch.as_tensor(X),
        method=method,
        pretrain_epochs=kwargs.pop("pretrain_epochs", 5),
        neighbor_weights=neighbor_weights,
        config=TrainingConfig(batch_size=32),
        learning_rate=1e-2,
        random_state=np.random.RandomState(seed),
        generator=torch.Generator().manual_seed(seed),
        **kwargs,
    )


def _after(ctx, *stages):
    for stage in stages:
        stage(ctx)
    return ctx


def _qy_head(ctx):
    return ctx.module.qy_head.weight.detach().clone()


# ------------------------------------------------------------------ stages
def test_autoencoder_stage_lowers_the_reconstruction_and_leaves_qy(blobs3):
    ctx = _context(blobs3[0], pretrain_epochs=20)
    before = autoencoder_loss(ctx.module, ctx.X).loss.mean().item()
    qy_head = _qy_head(ctx)
    pretrain_autoencoder(ctx)
    after = autoencoder_loss(ctx.module, ctx.X).loss.mean().item()
    assert after < 0.8 * before
    # The cluster encoder gets no gradient from the autoencoder loss.
    assert torch.equal(_qy_head(ctx), qy_head)
    assert not ctx.module.training


def test_codes_stage_standardizes_the_latent_space(blobs3):
    ctx = _after(_context(blobs3[0]), pretrain_autoencoder, embed_codes)
    assert ctx.codes.shape == (150, 2) and ctx.codes.dtype == np.float32
    np.testing.assert_allclose(ctx.codes.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(ctx.codes.std(0, ddof=1), 1.0, rtol=1e-4)
    # The module itself now maps X to the standardized codes.
    codes = ctx.module.autoencoder_embed(ctx.X).numpy()
    np.testing.assert_allclose(codes, ctx.codes, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("method", "weights", "searched"),
    [("gmm", None, False), ("graph", None, True), ("gmm", (1.0, 1.0), True)],
)
def test_neighbour_search_runs_where_neighbours_are_used(
    blobs3, method, weights, searched
):
    ctx = _context(blobs3[0], method, weights)
    ctx.codes = blobs3[0].copy()
    search_neighbors(ctx)
    if not searched:
        assert ctx.code_neighbors is ctx.input_neighbors is None
        return
    for distances, indices in (ctx.code_neighbors, ctx.input_neighbors):
        assert indices.shape == distances.shape == (150, 10)
        assert (indices != np.arange(150)[:, None]).all()  # never itself
        assert (np.diff(distances, axis=1) >= 0).all()


@pytest.mark.parametrize("method", ["gmm", "spectral", "graph"])
def test_initial_clusters_stage_finds_the_groups_and_sets_the_priors(blobs3, method):
    X, y = blobs3
    ctx = _context(X, method)
    ctx.codes = X.copy()
    ctx.code_neighbors = nearest_neighbors(ctx.codes, 10)
    find_initial_clusters(ctx)
    resp = ctx.responsibilities
    assert resp.shape == (150, K)
    np.testing.assert_allclose(resp.sum(1), 1.0)
    assert adjusted_rand_score(y, resp.argmax(1)) == pytest.approx(1.0)
    means, var = gaussian_moments(ctx.codes.astype(np.float64), resp, reg_covar=1e-3)
    prior_loc, prior_logvar = ctx.module.prior_params()
    np.testing.assert_allclose(prior_loc.detach().numpy(), means, rtol=1e-5)
    np.testing.assert_allclose(
        prior_logvar.detach().exp().numpy(), var, rtol=1e-3, atol=1e-6
    )


def _graph_start_context(X, n_clusters):
    """A graph start's context on ``X``, searched up to its start."""
    ctx = _context(X.astype(np.float32), "graph", n_clusters=n_clusters)
    ctx.codes = ctx.X.numpy().copy()
    search_neighbors(ctx)
    return ctx


def test_start_stage_refines_gaussian_clouds_by_a_mixture_of_the_input():
    # Three elongated clouds whose tails touch: the graph cuts them where
    # it is sparsest, EM where the Gaussians meet.
    X, y = make_blobs(600, centers=[[0, 0], [4, 0], [2, 4]], random_state=0)
    ctx = _graph_start_context(X @ np.array([[1.0, 0.3], [0.0, 0.6]]), K)
    find_initial_clusters(ctx)
    assert ctx.start_from_input
    labels = ctx.responsibilities.argmax(1)
    np.testing.assert_array_equal(ctx.responsibilities, np.eye(K)[labels])
    assert adjusted_rand_score(y, labels) > 0.8


def test_start_stage_leaves_curved_groups_to_the_graph():
    X, y = make_moons(600, noise=0.06, random_state=0)
    ctx = _graph_start_context(X, 2)
    find_initial_clusters(ctx)
    assert not ctx.start_from_input
    assert adjusted_rand_score(y, ctx.responsibilities.argmax(1)) > 0.95


def test_alignment_stage_teaches_qy_the_initial_clusters(blobs3):
    X, y = blobs3
    ctx = _context(X, pretrain_epochs=2)
    ctx.responsibilities = np.eye(K)[y]
    align_clusters(ctx)
    labels = ctx.module.qy_probs(ctx.X).argmax(1).numpy()
    assert adjusted_rand_score(y, labels) == pytest.approx(1.0)


@pytest.mark.parametrize(("n_features", "factor"), [(2, 1.0), (5, 2.0)])
def test_autoencoder_stage_trains_faster_where_the_codes_compress(
    n_features, factor, monkeypatch
):
    # _context's codes have 2 dimensions: 5 features are compressed, 2 not.
    rates = []

    def recording(module, learning_rate, **options):
        rates.append(learning_rate)
        return _optimizer(module, learning_rate, **options)

    monkeypatch.setattr(warmup, "make_optimizer", recording)
    X, y = make_blobs(n_samples=150, centers=K, n_features=n_features, random_state=1)
    ctx = _context(X.astype(np.float32), pretrain_epochs=1)
    pretrain_autoencoder(ctx)
    ctx.responsibilities = np.eye(K)[y]
    align_clusters(ctx)
    assert rates == [factor * ctx.learning_rate, ctx.learning_rate]


def test_alignment_stage_takes_its_minimum_of_optimizer_steps(monkeypatch):
    # 330 rows in batches of 32 are 10 batches (the 10 rows left over sit
    # each epoch out), not ceil(330 / 32) = 11: the minimum must be counted
    # in the batches the training loop runs.
    epochs = []
    monkeypatch.setattr(
        warmup, "_train_stage", lambda ctx, name, data, obj, n: epochs.append(n)
    )
    ctx = _context(np.zeros((330, 2), np.float32), pretrain_epochs=2)
    ctx.responsibilities = np.full((330, K), 1.0 / K)
    align_clusters(ctx)
    steps_per_epoch = len(batch_bounds(330, 32))
    assert steps_per_epoch == 10
    assert epochs == [math.ceil(ctx.settings.qy_stage_min_steps / steps_per_epoch)]


def test_neighbour_stage_is_skipped_without_weights(blobs3):
    ctx = _context(blobs3[0])
    qy_head = _qy_head(ctx)
    train_neighbor_terms(ctx)
    assert ctx.neighbors is None
    assert torch.equal(_qy_head(ctx), qy_head)


def test_neighbour_stage_trains_qy_and_refits_the_priors(blobs3):
    X, y = blobs3
    ctx = _context(X, neighbor_weights=(1.0, 1.0))
    ctx.codes = X.copy()
    ctx.code_neighbors = nearest_neighbors(ctx.codes, 10)
    qy_head = _qy_head(ctx)
    train_neighbor_terms(ctx)
    np.testing.assert_array_equal(ctx.neighbors.indices.numpy(), ctx.code_neighbors[1])
    assert not torch.equal(_qy_head(ctx), qy_head)
    # The priors are the moments of the codes under the new q(y | x), and
    # p(y) the clusters' sizes plus one each.
    resp = ctx.module.qy_probs(ctx.X).detach().double().numpy()
    means, _ = gaussian_moments(ctx.codes.astype(np.float64), resp, reg_covar=1e-3)
    prior_loc = ctx.module.prior_params()[0].detach().numpy()
    np.testing.assert_allclose(prior_loc, means, rtol=1e-4, atol=1e-5)
    weights = ctx.module.log_prior_y.exp().numpy()
    np.testing.assert_allclose(weights, (resp.sum(0) + 1) / (150 + K), rtol=1e-5)


def test_neighbour_stage_leaves_a_start_from_the_input_mixture(blobs3):
    # Only the neighbours are kept, for ELBO training; q(y | x) and the
    # priors stay those of the start.
    X, _ = blobs3
    ctx = _context(X, neighbor_weights=(1.0, 1.0), start_from_input=True)
    ctx.codes = X.copy()
    ctx.code_neighbors = nearest_neighbors(ctx.codes, 10)
    qy_head, prior = _qy_head(ctx), ctx.module.prior_params()[0].detach().clone()
    train_neighbor_terms(ctx)
    np.testing.assert_array_equal(ctx.neighbors.indices.numpy(), ctx.code_neighbors[1])
    assert torch.equal(_qy_head(ctx), qy_head)
    assert torch.equal(ctx.module.prior_params()[0].detach(), prior)


def test_mixture_weights_follow_the_initial_cluster_sizes():
    X, y = make_blobs([120, 20, 10], centers=[[0, 0], [8, 8], [-8, 8]], random_state=0)
    ctx = _context(X.astype(np.float32))
    ctx.codes = ctx.X.numpy()
    set_prior_from_clusters(ctx, np.eye(K)[y])
    weights = ctx.module.log_prior_y.exp().numpy()
    np.testing.assert_allclose(weights, np.array([121, 21, 11]) / 153, rtol=1e-5)


def test_neighbour_terms_never_draw_a_small_group_s_far_neighbours():
    # Each of five close points has its 5th neighbour in a large group far
    # away; its fuzzy weight is zero, so the terms never draw it, while the
    # large group's rows draw all their neighbours.
    rng = np.random.default_rng(0)
    small = rng.normal(scale=0.1, size=(5, 2))
    large = rng.normal(loc=20.0, size=(100, 2))
    X = np.vstack([small, large]).astype(np.float32)
    neighbors = neighbor_draws(nearest_neighbors(X, 5), torch.device("cpu"))
    assert (neighbors.indices[:5, -1] >= 5).all()
    assert (neighbors.affinity[:5, -1] < 1e-12).all()
    assert (neighbors.affinity[:, 0] == 1).all()
    terms = NeighborTerms(
        torch.as_tensor(X), neighbors, 1.0, 1.0, torch.Generator().manual_seed(0)
    )
    assert (terms.draw(torch.arange(5).repeat(1000)) < 5).all()
    drawn = terms.draw(torch.full((5000,), 50))
    assert set(drawn.tolist()) == set(neighbors.indices[50].tolist())


def test_neighbour_draws_keep_the_neighbours_the_input_agrees_on():
    # The codes and the input order 40 samples differently; a code
    # neighbour that is no input neighbour (in either direction) is never
    # drawn, the others keep their code weight times the input edge weight,
    # and a row the two spaces share no neighbour with keeps its weights.
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(40, 2))
    inputs = np.vstack([codes[:30], rng.normal(size=(10, 2)) + 50.0])
    found, agreeing = nearest_neighbors(codes, 5), nearest_neighbors(inputs, 5)
    plain = neighbor_draws(found, torch.device("cpu")).affinity.numpy()
    drawn = neighbor_draws(found, torch.device("cpu"), agreeing).affinity.numpy()
    input_edges = {(i, j) for i, row in enumerate(agreeing[1]) for j in row}
    n_alone = 0
    for i, row in enumerate(found[1]):
        agreed = np.array([(i, j) in input_edges or (j, i) in input_edges for j in row])
        if (agreed & (plain[i] > 0)).any():
            assert (drawn[i, ~agreed] == 0).all()
            assert (drawn[i, agreed] <= plain[i, agreed] + 1e-7).all()
        else:
            np.testing.assert_array_equal(drawn[i], plain[i])
            n_alone += 1
    assert 0 < n_alone < 10  # among the last ten rows, which the input moved


# ------------------------------------------------------------------ runner
def test_runner_goes_through_every_stage(blobs3):
    ctx = _context(blobs3[0], "graph", neighbor_weights=(0.5, 0.5))
    result = run_warmup(ctx)
    assert not result.interrupted
    assert result.neighbors is ctx.neighbors is not None
    assert ctx.responsibilities.shape == (150, K)
    assert [name for name, _ in STAGES] == [
        "autoencoder",
        "codes",
        "neighbour search",
        "initial clusters",
        "alignment",
        "neighbors",
    ]


def test_runner_reports_the_stage_an_interrupt_cut(blobs3):
    ran = []

    def first(ctx):
        ran.append("first")

    def cut(ctx):
        raise KeyboardInterrupt

    def never(ctx):
        ran.append("never")

    ctx = _context(blobs3[0])
    stages = (("first", first), ("cut", cut), ("never", never))
    result = run_warmup(ctx, stages)
    assert result.interrupted and result.interrupted_stage == "cut"
    assert result.neighbors is None
    assert ran == ["first"]


def test_an_interrupted_training_stage_cuts_the_warm_up(blobs3, monkeypatch):
    import skgmvae._losses as losses_module

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(losses_module, "alignment_loss", interrupt)
    ctx = _context(blobs3[0])
    with pytest.warns(RuntimeWarning, match="interrupted after 0 epochs"):
        result = run_warmup(ctx)
    assert result.interrupted_stage == "alignment"
    assert ctx.responsibilities is not None  # the stages before it ran


# -------------------------------------------------------------- objectives
def _batch_terms(objective, module, batch):
    out = objective(module, batch, 0)
    return out, {name: value.detach() for name, value in out.terms.items()}


def test_objectives_name_their_terms(blobs3):
    X = torch.as_tensor(blobs3[0])
    module = _context(blobs3[0]).module
    generator = torch.Generator().manual_seed(0)
    targets = torch.full((150, K), 1.0 / K)
    out, terms = _batch_terms(AlignmentObjective(), module, (X, targets))
    assert list(terms) == ["alignment"]
    torch.testing.assert_close(out.loss, terms["alignment"])

    found = neighbor_draws(nearest_neighbors(blobs3[0], 5), torch.device("cpu"))
    neighbors = NeighborTerms(X, found, 2.0, 3.0, generator)
    index = torch.arange(20)
    out, terms = _batch_terms(NeighborObjective(neighbors), module, index)
    assert list(terms) == ["consistency", "balance"]
    torch.testing.assert_close(out.loss, terms["consistency"] + terms["balance"])
    assert (terms["consistency"] >= 0).all()
    assert terms["balance"].unique().numel() == 1  # one value per batch

    elbo = ElboObjective(ElboSettings(), generator, neighbors)
    out, terms = _batch_terms(elbo, module, index)
    assert list(terms) == ["reconstruction", "kl_z", "kl_y", "consistency", "balance"]
    torch.testing.assert_close(out.loss, sum(terms.values()))
    assert elbo.epoch_metrics(0) == {"temperature": 1.0}


@pytest.mark.parametrize("neighbor_terms", [False, True])
def test_elbo_objective_holds_the_cluster_encoder_before_its_step(
    blobs3, neighbor_terms
):
    X = torch.as_tensor(blobs3[0])
    module = _context(blobs3[0]).module
    generator = torch.Generator().manual_seed(0)
    neighbors, batch = None, X[:20]
    if neighbor_terms:
        found = neighbor_draws(nearest_neighbors(blobs3[0], 5), torch.device("cpu"))
        neighbors = NeighborTerms(X, found, 2.0, 3.0, generator)
        batch = torch.arange(20)
    elbo = ElboObjective(ElboSettings(), generator, neighbors, hold_clusters_until=3)
    cluster_encoder = [*module.qy_trunk.parameters(), *module.qy_head.parameters()]
    for step, held in [(0, True), (2, True), (3, False)]:
        module.zero_grad(set_to_none=True)
        elbo(module, batch, step).loss.mean().backward()
        assert all((p.grad is None) == held for p in cluster_encoder), step
        assert module.decoder[-1].weight.grad is not None
        assert module.prior_loc.grad is not None


def test_the_loop_logs_each_named_term(blobs3):
    X = torch.as_tensor(blobs3[0])
    module = _context(blobs3[0]).module
    generator = torch.Generator().manual_seed(0)
    found = neighbor_draws(nearest_neighbors(blobs3[0], 5), torch.device("cpu"))
    neighbors = NeighborTerms(X, found, 2.0, 3.0, generator)
    state = TrainingState(_optimizer(module, 1e-3))
    result = train(
        module,
        torch.arange(150),
        ElboObjective(ElboSettings(), generator, neighbors),
        state,
        FixedEpochs(2),
        TrainingConfig(batch_size=50),
        generator,
    )
    assert result.n_epochs == 2 and not result.converged
    record = state.history[-1]
    names = ["reconstruction", "kl_z", "kl_y", "consistency", "balance"]
    assert list(record) == ["loss", *names, "changed", "temperature", "seconds"]
    assert 0.0 <= record["changed"] <= 1.0
    assert record["loss"] == pytest.approx(
        math.fsum(record[name] for name in names), rel=1e-5
    )


def _balance_terms(n_rows: int, prior: torch.Tensor) -> tuple[NeighborTerms, GMVAE]:
    module = GMVAE(2, prior.shape[0], 2, (8,), "gaussian")
    module.set_mixture_weights(prior)
    found = neighbor_draws(
        nearest_neighbors(np.random.default_rng(0).normal(size=(n_rows, 2)), 5),
        torch.device("cpu"),
    )
    X = torch.zeros(n_rows, 2)
    return NeighborTerms(X, found, 0.0, 1.0, torch.Generator().manual_seed(0)), module


def _push_out(grad: torch.Tensor, own: int, largest: int = 0) -> float:
    # How much more the term's gradient favours leaving cluster ``own`` for
    # the largest one than staying (in nats, per sample of the batch).
    return float(grad[own] - grad[largest])


def test_balance_term_does_not_push_the_members_of_small_clusters_out():
    # Data whose cluster sizes equal p(y) (900, 90 and 10 rows, batches of
    # 100): averaged over batches, the term does not push the members of the
    # 10-row cluster out (it pulls them in a little, in the batches where a
    # sample is its cluster's only member). A batch's own mean would push
    # them out at every step, since each sees its cluster as about twice its
    # size (itself plus 0.99 others in a batch of 100).
    prior = torch.tensor([0.9, 0.09, 0.01])
    terms, module = _balance_terms(1000, prior)
    data = torch.eye(3).repeat_interleave(torch.tensor([900, 90, 10]), dim=0)
    generator = torch.Generator().manual_seed(1)
    pushes, own_mean_pushes = [], []
    for _ in range(20):
        order = torch.randperm(1000, generator=generator)
        for start in range(0, 1000, 100):
            q = data[order[start : start + 100]].clone().requires_grad_()
            (grad,) = torch.autograd.grad(terms._balance(module, q), q)
            mean = q.mean(0)
            (own,) = torch.autograd.grad((mean * (mean / prior).log()).sum(), q)
            for row in torch.nonzero(q[:, 2] == 1)[:, 0]:
                pushes.append(100 * _push_out(grad[row], 2))
                own_mean_pushes.append(100 * _push_out(own[row], 2))
    assert -0.3 < np.mean(pushes) < 0.05
    assert np.mean(own_mean_pushes) > 0.5


def test_balance_term_reacts_within_the_batch():
    # A batch that puts every sample in one of three equal clusters is
    # pushed out of it at once, before the running mean has seen it: while
    # only the neighbour terms train, the consistency term would otherwise
    # join clusters faster than a running mean could follow.
    terms, module = _balance_terms(1000, torch.full((3,), 1 / 3))
    q = torch.zeros(100, 3)
    q[:, 0] = 1
    q.requires_grad_()
    (grad,) = torch.autograd.grad(terms._balance(module, q), q)
    assert _push_out(grad[0], 0, largest=1) > 0
    torch.testing.assert_close(terms.marginal, torch.tensor([0.4, 0.3, 0.3]))


def test_balance_term_estimates_the_kl_of_the_mean_to_the_prior():
    prior = torch.tensor([0.9, 0.09, 0.01])
    terms, module = _balance_terms(1000, prior)
    data = torch.eye(3).repeat_interleave(torch.tensor([700, 200, 100]), dim=0)
    order = torch.randperm(1000, generator=torch.Generator().manual_seed(1))
    for _ in range(10):
        values = [
            terms._balance(module, data[order[i : i + 100]])
            for i in range(0, 1000, 100)
        ]
    mean = data.mean(0)
    kl = (mean * (mean / prior).log()).sum()
    assert torch.stack(values).mean() == pytest.approx(kl.item(), rel=0.05)

"""The GMVAE network and the training loop, below the scikit-learn layer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skgmvae._clustering import GMVAEClustering
from skgmvae._distributions import gumbel_softmax, kl_categorical_uniform, log_normal
from skgmvae._initialization import (
    gaussian_moments,
    mixture_responsibilities,
    spectral_responsibilities,
)
from skgmvae._losses import (
    LossOutput,
    Objective,
    alignment_loss,
    autoencoder_loss,
    exact_negative_elbo,
    negative_elbo,
)
from skgmvae._module import (
    GMVAE,
    LATENT_LOGVAR_CEILING,
    LATENT_LOGVAR_FLOOR,
    OBSERVATION_LOGVAR_FLOOR,
    floored_logvar,
)
from skgmvae._training import (
    ClusterStability,
    TrainingConfig,
    TrainingState,
    WeightAverage,
    make_optimizer,
    train,
    train_averaged,
)

pytestmark = pytest.mark.filterwarnings("error")

N_FEATURES, K, D, BATCH = 6, 3, 2, 5


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _module(likelihood: str = "bernoulli", seed: int = 0) -> GMVAE:
    module = GMVAE(N_FEATURES, K, D, (8, 7), likelihood)
    module.reset_parameters(_generator(seed))
    with torch.no_grad():
        # Distinct rows, so q(z | x, y) really depends on y.
        module.qz_input_y.normal_(generator=_generator(seed + 100))
        if likelihood == "gaussian":
            module.x_logvar_raw.normal_(generator=_generator(seed + 200))
    return module.eval()


def _data(likelihood: str = "bernoulli", n: int = BATCH) -> torch.Tensor:
    x = torch.rand(n, N_FEATURES, generator=_generator(1))
    return x if likelihood == "bernoulli" else 3 * x - 1


def _assert_terms_shape(out: LossOutput, n: int, names=()) -> None:
    assert set(out.terms) == set(names)
    for name, value in [("loss", out.loss), *out.terms.items()]:
        assert value.shape == (n,), name
        assert torch.isfinite(value).all(), name


ELBO_TERMS = ("reconstruction", "kl_z", "kl_y")


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_output_shapes(likelihood):
    module, x = _module(likelihood), _data(likelihood)
    assert module.qy_logits(x).shape == (BATCH, K)
    y = F.one_hot(torch.arange(BATCH) % K, K).float()
    loc, logvar = module.qz_params(x, y)
    assert loc.shape == logvar.shape == (BATCH, D)
    loc_all, logvar_all = module.qz_params_all(x)
    assert loc_all.shape == logvar_all.shape == (BATCH, K, D)
    prior_loc, prior_logvar = module.prior_params()
    assert prior_loc.shape == prior_logvar.shape == (K, D)
    assert module.decode(loc).shape == (BATCH, N_FEATURES)
    assert module.embed(x).shape == (BATCH, D)
    _assert_terms_shape(
        exact_negative_elbo(module, x, torch.zeros(D)), BATCH, ELBO_TERMS
    )
    _assert_terms_shape(autoencoder_loss(module, x), BATCH, ["reconstruction"])
    target = F.softmax(torch.randn(BATCH, K, generator=_generator(3)), -1)
    _assert_terms_shape(alignment_loss(module, x, target), BATCH, ["alignment"])
    log_resp = module.prior_log_responsibilities(loc)
    assert log_resp.shape == (BATCH, K)
    torch.testing.assert_close(log_resp.exp().sum(-1), torch.ones(BATCH))


@pytest.mark.parametrize(
    ("categorical", "hard"), [("gumbel", False), ("gumbel", True), ("marginal", False)]
)
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_loss_shapes_and_weights(categorical, hard, likelihood):
    module, x = _module(likelihood), _data(likelihood)
    kwargs = dict(categorical=categorical, temperature=0.7, hard=hard)
    out = negative_elbo(module, x, generator=_generator(5), **kwargs)
    _assert_terms_shape(out, BATCH, ELBO_TERMS)
    terms = out.terms
    torch.testing.assert_close(
        out.loss, terms["reconstruction"] + terms["kl_z"] + terms["kl_y"]
    )
    torch.testing.assert_close(
        terms["kl_y"], kl_categorical_uniform(module.qy_logits(x))
    )
    weighted = negative_elbo(
        module, x, generator=_generator(5), weights=(0.5, 2.0, 3.0), **kwargs
    )
    # Same draws, so the unweighted terms agree and only the total changes.
    torch.testing.assert_close(
        weighted.terms["reconstruction"], terms["reconstruction"]
    )
    torch.testing.assert_close(
        weighted.loss,
        0.5 * terms["reconstruction"] + 2.0 * terms["kl_z"] + 3.0 * terms["kl_y"],
    )


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_sample_shapes_and_range(likelihood):
    module = _module(likelihood)
    X, y = module.sample(50, _generator(3))
    assert X.shape == (50, N_FEATURES)
    assert y.shape == (50,)
    assert int(y.min()) >= 0 and int(y.max()) < K
    if likelihood == "bernoulli":
        assert float(X.min()) >= 0.0 and float(X.max()) <= 1.0
    X2, y2 = module.sample(50, _generator(3))
    assert torch.equal(X, X2) and torch.equal(y, y2)


# -------------------------------------------------------------- the maths
def test_qz_params_all_equals_qz_params_per_cluster():
    module, x = _module(), _data()
    loc_all, logvar_all = module.qz_params_all(x)
    for k in range(K):
        y = F.one_hot(torch.full((BATCH,), k), K).float()
        loc, logvar = module.qz_params(x, y)
        torch.testing.assert_close(loc_all[:, k], loc)
        torch.testing.assert_close(logvar_all[:, k], logvar)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_marginal_loss_is_the_weighted_sum_over_clusters(likelihood):
    module, x = _module(likelihood), _data(likelihood)
    terms = negative_elbo(
        module,
        x,
        categorical="marginal",
        temperature=1.0,
        hard=False,
        generator=_generator(9),
    ).terms
    # The same noise the module draws: one z per sample and cluster.
    eps = torch.randn((BATCH, K, D), generator=_generator(9))
    qy = F.softmax(module.qy_logits(x), -1)
    prior_loc, prior_logvar = module.prior_params()
    reconstruction = torch.zeros(BATCH)
    kl_z = torch.zeros(BATCH)
    for k in range(K):
        y = F.one_hot(torch.full((BATCH,), k), K).float()
        loc, logvar = module.qz_params(x, y)
        z = loc + eps[:, k] * torch.exp(0.5 * logvar)
        rec_k = -module.log_px(x, module.decode(z))
        kl_k = log_normal(z, loc, logvar) - log_normal(z, prior_loc[k], prior_logvar[k])
        reconstruction += qy[:, k] * rec_k
        kl_z += qy[:, k] * kl_k
    torch.testing.assert_close(terms["reconstruction"], reconstruction)
    torch.testing.assert_close(terms["kl_z"], kl_z)


@pytest.mark.parametrize(
    ("confident", "conditional"), [(False, True), (True, True), (True, False)]
)
def test_exact_elbo_is_the_weighted_sum_over_clusters(confident, conditional):
    x = _data()
    if conditional:
        module = _module()
    else:
        module = GMVAE(N_FEATURES, K, D, (8, 7), "bernoulli", False)
        module.reset_parameters(_generator(0))
    assert module.conditional_encoder == conditional
    if confident:  # most clusters far below the skipping threshold
        with torch.no_grad():
            module.qy_head.weight.mul_(300.0)
    eps = torch.randn(D, generator=_generator(5))
    qy = F.softmax(module.qy_logits(x), -1)
    assert confident == bool((qy < 1e-6).any())
    prior_loc, prior_logvar = module.prior_params()
    total = torch.zeros(BATCH)
    for k in range(K):
        y = F.one_hot(torch.full((BATCH,), k), K).float()
        loc, logvar = module.qz_params(x, y)
        z = loc + eps * torch.exp(0.5 * logvar)
        rec_k = -module.log_px(x, module.decode(z))
        kl_k = log_normal(z, loc, logvar) - log_normal(z, prior_loc[k], prior_logvar[k])
        total += qy[:, k] * (rec_k + kl_k)
    total += kl_categorical_uniform(module.qy_logits(x))
    loss = exact_negative_elbo(module, x, eps).loss
    torch.testing.assert_close(loss, total, rtol=1e-5, atol=1e-4)


def test_elbo_is_deterministic_and_batch_independent():
    module, x = _module(), _data(n=12)
    eps = torch.randn(D, generator=_generator(2))
    full = exact_negative_elbo(module, x, eps).loss
    again = exact_negative_elbo(module, x, eps).loss
    torch.testing.assert_close(again, full, rtol=0, atol=0)
    rows = torch.cat(
        [exact_negative_elbo(module, x[i : i + 1], eps).loss for i in range(12)]
    )
    torch.testing.assert_close(rows, full, rtol=1e-5, atol=1e-5)
    perm = torch.randperm(12, generator=_generator(4))
    torch.testing.assert_close(
        exact_negative_elbo(module, x[perm], eps).loss, full[perm]
    )


def test_elbo_averages_the_marginal_loss():
    # With the noise shared across clusters, the marginal loss is the ELBO
    # at that noise; both are unbiased for the same expectation.
    module, x = _module(), _data(n=1)
    x = x.expand(4000, N_FEATURES)
    with torch.no_grad():
        loss = negative_elbo(
            module,
            x,
            categorical="marginal",
            temperature=1.0,
            hard=False,
            generator=_generator(),
        ).loss
    eps = torch.randn(4000, D, generator=_generator(11))
    elbo = torch.stack(
        [exact_negative_elbo(module, x[:1], e).loss[0] for e in eps[:500]]
    )
    stderr = math.sqrt(loss.var() / 4000 + elbo.var() / 500)
    assert abs(float(loss.mean() - elbo.mean())) < 5 * stderr


def test_embed_is_the_posterior_mean():
    module, x = _module(), _data()
    qy = F.softmax(module.qy_logits(x), -1)
    loc_all, _ = module.qz_params_all(x)
    expected = torch.einsum("bk,bkd->bd", qy, loc_all)
    torch.testing.assert_close(module.embed(x), expected)


def test_gumbel_loss_uses_the_hard_one_hot_forward():
    module, x = _module(), _data()
    loc_all, _ = module.qz_params_all(x)
    # hard=True: the z-encoder sees exactly one cluster per sample, so the
    # location of q(z | x, y) is one of the K per-cluster locations.
    logits = module.qy_logits(x)
    y = gumbel_softmax(logits, 0.5, hard=True, generator=_generator(8))
    loc, _ = module.qz_params(x, y)
    chosen = loc_all[torch.arange(BATCH), y.argmax(-1)]
    torch.testing.assert_close(loc, chosen)


@pytest.mark.parametrize("categorical", ["gumbel", "marginal"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_every_parameter_gets_a_gradient(categorical, likelihood):
    module, x = _module(likelihood), _data(likelihood)
    out = negative_elbo(
        module,
        x,
        categorical=categorical,
        temperature=0.5,
        hard=False,
        generator=_generator(),
    )
    out.loss.mean().backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


# ------------------------------------------------------------------ floors
def test_floored_logvar_respects_the_floor():
    raw = torch.tensor([-1e30, -1e4, -50.0, 0.0, 50.0, 1e4])
    out = floored_logvar(raw, LATENT_LOGVAR_FLOOR)
    assert torch.isfinite(out).all()
    assert (out >= LATENT_LOGVAR_FLOOR).all()
    assert float(out[-1]) == pytest.approx(1e4)  # the identity far above
    assert (out[1:] >= out[:-1]).all()  # monotone


@pytest.mark.parametrize("value", [-1e6, 1e6])
def test_variance_floors_hold_for_extreme_raw_values(value):
    module, x = _module("gaussian"), _data("gaussian")
    with torch.no_grad():
        module.qz_head.bias.fill_(value)
        module.prior_logvar_raw.fill_(value)
        module.x_logvar_raw.fill_(value)
    _, logvar = module.qz_params_all(x)
    _, prior_logvar = module.prior_params()
    assert (logvar >= LATENT_LOGVAR_FLOOR).all()
    assert (prior_logvar >= LATENT_LOGVAR_FLOOR).all()
    log_px = module.log_px(x, module.decode(torch.zeros(BATCH, D)))
    if value < 0:
        # The observation variance is floored too: log p(x | z) is bounded.
        bound = -0.5 * N_FEATURES * (math.log(2 * math.pi) + OBSERVATION_LOGVAR_FLOOR)
        assert (log_px <= bound + 1e-3).all()
    assert torch.isfinite(log_px).all()


def test_posterior_variance_is_capped_for_an_input_far_in_a_tail():
    # The log-variance of q(z | x, y) grows about linearly with the input; an
    # input thousands of standard deviations out would otherwise give a
    # variance that overflows a draw of z.
    module, x = _module("gaussian"), _data("gaussian")
    _, usual = module.qz_params_all(x)
    assert (usual < LATENT_LOGVAR_CEILING).all()
    far = x.clone()
    far[0] = torch.linspace(-1e4, 1e4, N_FEATURES)
    loc, logvar = module.qz_params_all(far)
    assert (logvar <= LATENT_LOGVAR_CEILING).all()
    assert (logvar[0] == LATENT_LOGVAR_CEILING).any()  # the cap is reached
    torch.testing.assert_close(logvar[1:], usual[1:])  # the others unchanged
    z = loc + torch.exp(0.5 * logvar) * torch.randn(loc.shape, generator=_generator())
    assert torch.isfinite(module.log_px(far.unsqueeze(1), module.decode(z))).all()


def test_set_prior_round_trip():
    module = _module()
    loc = torch.randn(K, D, generator=_generator(5))
    var = torch.rand(K, D, generator=_generator(6)) * 3 + 1e-3
    module.set_prior(loc, var)
    prior_loc, prior_logvar = module.prior_params()
    torch.testing.assert_close(prior_loc, loc)
    torch.testing.assert_close(prior_logvar.exp(), var, rtol=1e-4, atol=1e-6)


def test_set_prior_clamps_variances_below_the_floor():
    module = _module()
    var = torch.full((K, D), 1e-12)
    var[0, 0] = 0.0
    module.set_prior(torch.zeros(K, D), var)
    prior_logvar = module.prior_params()[1].detach()
    assert torch.isfinite(prior_logvar).all()
    np.testing.assert_allclose(prior_logvar.numpy(), LATENT_LOGVAR_FLOOR, atol=1e-4)


# ------------------------------------------------------------------ warm-up
def test_alignment_loss_is_the_cross_entropy_to_the_target():
    module, x = _module(), _data()
    target = F.softmax(torch.randn(BATCH, K, generator=_generator(3)), -1)
    log_q = F.log_softmax(module.qy_logits(x), -1)
    expected = -(target * log_q).sum(-1)
    torch.testing.assert_close(alignment_loss(module, x, target).loss, expected)
    # Minimised (to the target's entropy) when q(y | x) equals the target.
    with torch.no_grad():
        module.qy_head.weight.zero_()
        module.qy_head.bias.copy_(torch.log(target[0]))
    entropy = -(target[0] * torch.log(target[0])).sum()
    one = alignment_loss(module, x[:1], target[:1]).loss
    torch.testing.assert_close(one, entropy.reshape(1))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_standardize_latent_keeps_the_autoencoder(likelihood):
    module, x = _module(likelihood), _data(likelihood, n=40)
    codes = module.autoencoder_embed(x)
    reconstruction = module.decode(codes).detach()
    mean, std = codes.mean(0), codes.std(0)
    module.standardize_latent(mean, std)
    new_codes = module.autoencoder_embed(x)
    torch.testing.assert_close(new_codes, (codes - mean) / std, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        module.decode(new_codes).detach(), reconstruction, rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(new_codes.mean(0), torch.zeros(D), atol=1e-5, rtol=0)


def test_input_scaling_is_a_change_of_units():
    # The scaled module on x = shift + scale * u computes what the plain
    # module computes on u, with densities in x's units.
    plain, scaled = _module("gaussian"), _module("gaussian")
    shift = torch.linspace(-500.0, 500.0, N_FEATURES)
    scale = torch.linspace(10.0, 2000.0, N_FEATURES)
    scaled.set_input_scaling(shift, scale)
    u = _data("gaussian", n=8)
    x = shift + scale * u
    torch.testing.assert_close(scaled.qy_logits(x), plain.qy_logits(u))
    loc, logvar = scaled.qz_params_all(x)
    loc_u, logvar_u = plain.qz_params_all(u)
    torch.testing.assert_close(loc, loc_u)
    z = loc[:, 0]
    torch.testing.assert_close(scaled.decode(z), shift + scale * plain.decode(z))
    log_jacobian = torch.log(scale).sum()
    torch.testing.assert_close(
        scaled.log_px(x, scaled.decode(z)),
        plain.log_px(u, plain.decode(z)) - log_jacobian,
    )


def test_set_posterior_variance():
    module, x = _module(), _data()
    var = torch.tensor([0.3, 2.0])
    module.set_posterior_variance(var)
    _, logvar = module.qz_params_all(x)
    expected = torch.log(var).expand(BATCH, K, D)
    torch.testing.assert_close(logvar.detach(), expected, rtol=1e-4, atol=1e-5)


def test_mixture_and_spectral_responsibilities_find_separated_clusters():
    codes, y = make_blobs(n_samples=90, centers=3, cluster_std=0.3, random_state=0)
    mixture = mixture_responsibilities(codes, 3, reg_covar=1e-6, random_state=0)
    spectral = spectral_responsibilities(codes, 3, n_neighbors=10, random_state=0)
    for resp in (mixture, spectral):
        assert resp.shape == (90, 3)
        np.testing.assert_allclose(resp.sum(1), 1.0)
        assert adjusted_rand_score(y, resp.argmax(1)) == pytest.approx(1.0)
    assert set(np.unique(spectral)) == {0.0, 1.0}


def test_gaussian_moments(rng):
    codes = rng.normal(size=(50, 3)) * [1.0, 2.0, 3.0]
    resp = rng.dirichlet(np.ones(4), size=50)
    resp[:, 3] = 0.0  # an empty cluster
    resp /= resp.sum(1, keepdims=True)
    means, var = gaussian_moments(codes, resp, reg_covar=1e-3)
    assert means.shape == var.shape == (4, 3)
    for k in range(3):
        w = resp[:, k]
        mean = np.average(codes, axis=0, weights=w)
        np.testing.assert_allclose(means[k], mean)
        expected = np.average((codes - mean) ** 2, axis=0, weights=w) + 1e-3
        np.testing.assert_allclose(var[k], expected)
    # The empty cluster gets the overall moments.
    np.testing.assert_allclose(means[3], codes.mean(0))
    np.testing.assert_allclose(var[3], codes.var(0) + 1e-3)


# ------------------------------------------------------------ initialisation
def test_reset_parameters_depends_only_on_the_generator():
    a, b, c = (GMVAE(N_FEATURES, K, D, (8, 7), "gaussian") for _ in range(3))
    torch_state = torch.get_rng_state()
    a.reset_parameters(_generator(1))
    b.reset_parameters(_generator(1))
    c.reset_parameters(_generator(2))
    assert torch.equal(torch.get_rng_state(), torch_state)
    for (name, pa), pb, pc in zip(
        a.named_parameters(), b.parameters(), c.parameters(), strict=True
    ):
        assert torch.equal(pa, pb), name
        # Initialised to constants:
        if name not in ("prior_logvar_raw", "qz_input_y", "x_logvar_raw"):
            assert not torch.equal(pa, pc), name


# ------------------------------------------------------------ training loop
def _stopping(max_iter=20, tol=0.0, n_iter_no_change=3):
    return ClusterStability(max_iter, tol, n_iter_no_change)


class _Scripted(Objective):
    """An objective whose epoch means follow ``values``, step by step.

    With ``clusters``, the step's rows report the clusters of the matching
    row of ``clusters``: row ``i`` of the data is recognised by its value.
    """

    def __init__(self, values, clusters=None):
        self.values = values
        self.clusters = clusters
        self.calls = 0

    def __call__(self, module, batch, step):
        epoch = min(self.calls, len(self.values) - 1)
        value = self.values[epoch]
        self.calls += 1
        if isinstance(value, BaseException):
            raise value
        # Zero, but with a gradient: every step moves the parameters.
        s = sum(p.sum() for p in module.parameters())
        anchor = s - s.detach()
        total = anchor + torch.full((batch.shape[0],), float(value))
        clusters = None
        if self.clusters is not None:
            rows = torch.round(batch[:, 0] * BATCH).long()
            clusters = torch.as_tensor(self.clusters[epoch])[rows]
        return LossOutput(total, {"value": total}, clusters=clusters)


LEARNING_RATE = GMVAEClustering().learning_rate_init


def _train(values, clusters=None, **params):
    module = _module()
    # Row i holds i / BATCH everywhere, so the scripted clusters find it.
    x = (torch.arange(BATCH, dtype=torch.float32) / BATCH)[:, None]
    x = x.expand(BATCH, N_FEATURES).contiguous()
    state = TrainingState(make_optimizer(module, LEARNING_RATE))
    objective = _Scripted(values, clusters)
    config = TrainingConfig(batch_size=BATCH)
    result = train(
        module, x, objective, state, _stopping(**params), config, _generator()
    )
    return result, state, module, objective.calls


# Clusters of the 5 rows per epoch: 1 (first epoch), 0.6, 0, 0.2, 0, 0, 0.2
# and 0 of the rows change from one epoch to the next.
CLUSTERS = [
    [0, 0, 0, 1, 1],
    [1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1],
    [1, 1, 1, 1, 0],
    [1, 1, 1, 1, 0],
    [1, 1, 1, 1, 0],
    [2, 1, 1, 1, 0],
    [2, 1, 1, 1, 0],
]


def test_train_measures_the_fraction_of_samples_that_change_cluster():
    _, state, _, _ = _train([1.0] * 8, CLUSTERS, max_iter=8, n_iter_no_change=99)
    changed = [record["changed"] for record in state.history]
    assert changed == pytest.approx([1.0, 0.6, 0.0, 0.2, 0.0, 0.0, 0.2, 0.0])


def test_train_stops_after_n_iter_no_change_stable_epochs():
    result, state, _, _ = _train([1.0] * 8, CLUSTERS, tol=0.2, n_iter_no_change=3)
    # Stable (at most 20% of rows changed) from epoch 3 on: stop after 5.
    assert result.converged
    assert result.n_epochs == 5 == len(state.history)
    assert state.step == 5  # one batch per epoch


def test_train_tolerance_on_the_fraction_changed():
    # With tol=0.1, epochs 4 and 7 are not stable: 5 and 6 are two in a row.
    result, _, _, _ = _train([1.0] * 8, CLUSTERS, tol=0.1, n_iter_no_change=2)
    assert result.converged
    assert result.n_epochs == 6


def test_train_first_epoch_is_never_stable():
    result, _, _, _ = _train([1.0] * 3, [[0] * 5] * 3, tol=0.5, n_iter_no_change=1)
    assert result.n_epochs == 2


def test_train_hits_max_epochs_without_converging():
    result, state, _, _ = _train(list(range(100, 0, -1)), max_iter=5)
    assert not result.converged
    assert result.n_epochs == 5 == len(state.history)


def test_train_recovers_from_a_transient_nan():
    values = [10, 9, math.nan, 8, 7, 6]
    with pytest.warns(RuntimeWarning, match="Non-finite training loss"):
        result, state, _, _ = _train(values, max_iter=4, n_iter_no_change=10)
    assert result.n_epochs == 4
    assert all(math.isfinite(r["loss"]) for r in state.history)
    lr = state.optimizer.param_groups[0]["lr"]
    assert lr == pytest.approx(0.1 * LEARNING_RATE)
    # The NaN epoch's step was rolled back with the parameters.
    assert state.step == 4


def test_train_raises_after_repeated_nans():
    module, x = _module(), _data()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    state = TrainingState(make_optimizer(module, LEARNING_RATE))
    config = TrainingConfig(batch_size=BATCH)
    with (
        pytest.warns(RuntimeWarning, match="Non-finite"),
        pytest.raises(FloatingPointError, match="NaN or infinite"),
    ):
        train(
            module,
            x,
            _Scripted([math.inf]),
            state,
            _stopping(max_iter=10),
            config,
            _generator(),
        )
    # The module is left in its last finite state.
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_train_keyboard_interrupt_keeps_the_last_complete_epoch():
    values = [10, 9, 8, KeyboardInterrupt()]
    with pytest.warns(RuntimeWarning, match="interrupted after 3 epochs"):
        result, state, module, _ = _train(values, n_iter_no_change=10)
    assert result.interrupted and not result.converged
    assert result.n_epochs == 3 == len(state.history)
    assert not module.training  # left in eval mode


def _parameters(module):
    return [p.detach().double().clone() for p in module.parameters()]


def test_train_averaged_keeps_the_mean_of_the_weights_it_passed_through():
    module, x = _module(), _data()
    state = TrainingState(make_optimizer(module, LEARNING_RATE))
    seen = [_parameters(module)]
    result = train_averaged(
        module,
        x,
        _Scripted([1.0]),
        state,
        3,
        TrainingConfig(batch_size=BATCH),
        _generator(),
        on_epoch_end=lambda epoch, record: seen.append(_parameters(module)),
    )
    assert result.n_epochs == 3 and not result.converged
    assert len(seen) == 4
    # Every step moved the weights, so the mean is none of the four.
    for param, *values in zip(module.parameters(), *seen, strict=True):
        mean = torch.stack(values).mean(0)
        torch.testing.assert_close(param.double(), mean, rtol=0, atol=1e-6)
        assert not torch.equal(param.double(), values[-1])
    # Buffers are the module's own, not averaged.
    assert torch.equal(module.log_prior_y, _module().log_prior_y)


def test_weight_average_is_exact_for_constant_weights():
    module = _module()
    average = WeightAverage(module)
    before = _parameters(module)
    for _ in range(5):
        average.update(module)
    with torch.no_grad():
        for param in module.parameters():
            param.zero_()
    average.copy_to(module)
    for param, value in zip(module.parameters(), before, strict=True):
        assert torch.equal(param.double(), value)


def test_train_averaged_interrupted_keeps_the_mean_of_complete_epochs():
    module, x = _module(), _data()
    state = TrainingState(make_optimizer(module, LEARNING_RATE))
    seen = [_parameters(module)]
    with pytest.warns(RuntimeWarning, match="interrupted after 2 epochs"):
        result = train_averaged(
            module,
            x,
            _Scripted([1.0, 1.0, KeyboardInterrupt()]),
            state,
            4,
            TrainingConfig(batch_size=BATCH),
            _generator(),
            on_epoch_end=lambda epoch, record: seen.append(_parameters(module)),
        )
    assert result.interrupted and result.n_epochs == 2
    for param, *values in zip(module.parameters(), *seen, strict=True):
        mean = torch.stack(values).mean(0)
        torch.testing.assert_close(param.double(), mean, rtol=0, atol=1e-6)

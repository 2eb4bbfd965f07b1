"""Log-densities, divergences and the Gumbel-Softmax relaxation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from skgmvae._clustering import GMVAEClustering
from skgmvae._distributions import (
    gumbel_softmax,
    kl_categorical,
    kl_categorical_uniform,
    kl_normal_normal,
    log_bernoulli_with_logits,
    log_normal,
    sample_gumbel,
)
from skgmvae._losses import temperature_at

pytestmark = pytest.mark.filterwarnings("error")

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
logvars = st.floats(-20.0, 20.0, allow_nan=False, allow_infinity=False)


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------ log-densities
def test_log_normal_matches_scipy(rng):
    x = rng.normal(size=(7, 5)) * 3
    loc = rng.normal(size=(7, 5))
    logvar = rng.uniform(-4, 4, size=(7, 5))
    expected = stats.norm.logpdf(x, loc, np.exp(0.5 * logvar)).sum(-1)
    result = log_normal(_t(x), _t(loc), _t(logvar))
    assert result.shape == (7,)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12)


def test_log_normal_broadcasts_over_leading_axes(rng):
    x = rng.normal(size=(4, 1, 3))
    loc = rng.normal(size=(5, 3))
    logvar = rng.normal(size=(5, 3))
    result = log_normal(_t(x), _t(loc), _t(logvar))
    expected = stats.norm.logpdf(x, loc, np.exp(0.5 * logvar)).sum(-1)
    assert result.shape == (4, 5)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(x=finite, loc=finite, logvar=logvars)
def test_log_normal_matches_scipy_property(x, loc, logvar):
    expected = stats.norm.logpdf(x, loc, math.exp(0.5 * logvar))
    result = float(log_normal(_t([x]), _t([loc]), _t([logvar])))
    assert result == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_log_bernoulli_matches_scipy(rng):
    logits = rng.normal(size=(6, 8)) * 4
    x = (rng.uniform(size=(6, 8)) < 0.5).astype(np.float64)
    expected = stats.bernoulli.logpmf(x, special.expit(logits)).sum(-1)
    result = log_bernoulli_with_logits(_t(x), _t(logits))
    assert result.shape == (6,)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-10)


def test_log_bernoulli_fractional_targets(rng):
    # Grey levels in [0, 1]: the cross-entropy x log p + (1 - x) log(1 - p).
    logits = rng.normal(size=(5, 4)) * 3
    x = rng.uniform(size=(5, 4))
    expected = (
        x * special.log_expit(logits) + (1 - x) * special.log_expit(-logits)
    ).sum(-1)
    result = log_bernoulli_with_logits(_t(x), _t(logits))
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_bernoulli_extreme_logits_stay_finite(dtype):
    logits = torch.tensor([-1e4, -100.0, -30.0, 30.0, 100.0, 1e4], dtype=dtype)
    for x_value in (0.0, 1.0):
        x = torch.full_like(logits, x_value)
        per_feature = torch.stack(
            [
                log_bernoulli_with_logits(x[i : i + 1], logits[i : i + 1])
                for i in range(6)
            ]
        )
        assert torch.isfinite(per_feature).all()
        # log sigmoid(l) for x = 1, log sigmoid(-l) for x = 0, computed stably.
        sign = 1.0 if x_value == 1.0 else -1.0
        expected = special.log_expit(sign * logits.double().numpy())
        np.testing.assert_allclose(
            per_feature.double().numpy(), expected, rtol=1e-6, atol=1e-6
        )
    # Where scipy's probability rounds to 0 or 1 its log-pmf is -inf or 0;
    # the logit form keeps the exact (finite) values.
    assert stats.bernoulli.logpmf(0, special.expit(100.0)) == -np.inf
    assert float(log_bernoulli_with_logits(_t([0.0]), _t([100.0]))) == pytest.approx(
        -100.0
    )


def test_log_bernoulli_gradient_finite_for_extreme_logits():
    logits = torch.tensor([-1e4, 1e4, 0.0], dtype=torch.float32, requires_grad=True)
    x = torch.tensor([1.0, 0.0, 1.0])
    log_bernoulli_with_logits(x, logits).backward()
    assert torch.isfinite(logits.grad).all()
    # d/dl [x log s(l) + (1 - x) log s(-l)] = x - sigmoid(l)
    np.testing.assert_allclose(logits.grad.numpy(), [1.0, -1.0, 0.5], atol=1e-6)


# ------------------------------------------------------------- divergences
def _mc_kl_normal(loc_q, logvar_q, loc_p, logvar_p, n, rng):
    std_q = np.exp(0.5 * logvar_q)
    z = loc_q + std_q * rng.standard_normal(size=(n, *np.shape(loc_q)))
    log_ratio = stats.norm.logpdf(z, loc_q, std_q) - stats.norm.logpdf(
        z, loc_p, np.exp(0.5 * logvar_p)
    )
    samples = log_ratio.sum(-1)
    return samples.mean(0), samples.std(0) / math.sqrt(n)


def test_kl_normal_normal_matches_monte_carlo(rng):
    loc_q, loc_p = rng.normal(size=(2, 3, 4))
    logvar_q, logvar_p = rng.uniform(-1.5, 1.5, size=(2, 3, 4))
    estimate, stderr = _mc_kl_normal(loc_q, logvar_q, loc_p, logvar_p, 200_000, rng)
    result = kl_normal_normal(_t(loc_q), _t(logvar_q), _t(loc_p), _t(logvar_p))
    assert result.shape == (3,)
    assert np.all(np.abs(result.numpy() - estimate) < 5 * stderr + 1e-3)


def test_kl_normal_normal_closed_forms():
    zeros = torch.zeros(1, 3, dtype=torch.float64)
    assert float(kl_normal_normal(zeros, zeros, zeros, zeros)) == 0.0
    # KL(N(m, 1) || N(0, 1)) = m^2 / 2 per dimension.
    m = torch.tensor([[1.0, -2.0, 3.0]], dtype=torch.float64)
    assert float(kl_normal_normal(m, zeros, zeros, zeros)) == pytest.approx(7.0)
    # KL(N(0, s^2) || N(0, 1)) = (s^2 - 1 - log s^2) / 2.
    logvar = torch.full((1, 1), math.log(4.0), dtype=torch.float64)
    expected = 0.5 * (4.0 - 1.0 - math.log(4.0))
    result = kl_normal_normal(zeros[:, :1], logvar, zeros[:, :1], zeros[:, :1])
    assert float(result) == pytest.approx(expected)


@settings(max_examples=50, deadline=None)
@given(
    loc_q=finite,
    logvar_q=st.floats(-10, 10),
    loc_p=finite,
    logvar_p=st.floats(-10, 10),
)
def test_kl_normal_normal_nonnegative(loc_q, logvar_q, loc_p, logvar_p):
    result = float(
        kl_normal_normal(_t([loc_q]), _t([logvar_q]), _t([loc_p]), _t([logvar_p]))
    )
    assert result >= -1e-9


def test_kl_categorical_uniform_matches_entropy_and_monte_carlo(rng):
    logits = rng.normal(size=(4, 6)) * 2
    q = special.softmax(logits, axis=-1)
    closed = math.log(6) - stats.entropy(q, axis=-1)
    result = kl_categorical_uniform(_t(logits))
    assert result.shape == (4,)
    np.testing.assert_allclose(result.numpy(), closed, rtol=1e-10)

    n = 200_000
    for row in range(4):
        draws = rng.choice(6, size=n, p=q[row])
        samples = np.log(q[row][draws]) - math.log(1 / 6)
        stderr = samples.std() / math.sqrt(n)
        assert abs(float(result[row]) - samples.mean()) < 5 * stderr + 1e-3


def test_kl_categorical_uniform_limits():
    # Uniform q: zero; one-hot q: log K, with no NaN from 0 * log 0.
    assert float(kl_categorical_uniform(torch.zeros(1, 5))) == pytest.approx(
        0, abs=1e-6
    )
    one_hot = torch.tensor([[1e4, 0.0, 0.0, 0.0, 0.0]])
    value = kl_categorical_uniform(one_hot)
    assert torch.isfinite(value).all()
    assert float(value) == pytest.approx(math.log(5), rel=1e-5)


def test_kl_categorical_matches_scipy(rng):
    logits = rng.normal(size=(3, 5))
    log_prior = np.log(special.softmax(rng.normal(size=5)))
    q = special.softmax(logits, axis=-1)
    expected = special.rel_entr(q, np.exp(log_prior)).sum(-1)
    result = kl_categorical(_t(logits), _t(log_prior))
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-10)
    # With the uniform prior it is kl_categorical_uniform.
    uniform = torch.full((5,), -math.log(5), dtype=torch.float64)
    np.testing.assert_allclose(
        kl_categorical(_t(logits), uniform).numpy(),
        kl_categorical_uniform(_t(logits)).numpy(),
        rtol=1e-12,
    )


# ----------------------------------------------------------- Gumbel-Softmax
def test_sample_gumbel_moments():
    g = sample_gumbel((200_000,), generator=_generator(), device=torch.device("cpu"))
    # Standard Gumbel: mean is Euler's constant, variance pi^2 / 6.
    assert float(g.mean()) == pytest.approx(np.euler_gamma, abs=0.01)
    assert float(g.var()) == pytest.approx(math.pi**2 / 6, rel=0.02)


def test_sample_gumbel_finite_at_the_ends_of_the_uniform(monkeypatch):
    extremes = torch.tensor([0.0, 1e-45, 0.5, 1.0 - 2**-24])
    monkeypatch.setattr(torch, "rand", lambda *args, **kwargs: extremes.clone())
    g = sample_gumbel((4,), generator=None, device=torch.device("cpu"))
    assert torch.isfinite(g).all()


def test_gumbel_softmax_is_reproducible_with_a_generator():
    logits = torch.randn(5, 4, generator=_generator(1))
    a = gumbel_softmax(logits, 0.7, hard=False, generator=_generator(3))
    b = gumbel_softmax(logits, 0.7, hard=False, generator=_generator(3))
    c = gumbel_softmax(logits, 0.7, hard=False, generator=_generator(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("hard", [True, False])
@pytest.mark.parametrize("temperature", [0.3, 1.0, 5.0])
def test_gumbel_softmax_argmax_frequencies_match_softmax(hard, temperature):
    logits = torch.tensor([1.5, 0.0, -1.0, 0.5], dtype=torch.float64)
    n = 40_000
    samples = gumbel_softmax(
        logits.expand(n, 4), temperature, hard=hard, generator=_generator()
    )
    assert samples.shape == (n, 4)
    np.testing.assert_allclose(samples.sum(-1).numpy(), 1.0, rtol=1e-12)
    if hard:
        assert set(np.unique(samples.numpy())) <= {0.0, 1.0}
    else:
        assert (samples > 0).all()
    frequencies = np.bincount(samples.argmax(-1).numpy(), minlength=4) / n
    p = F.softmax(logits, -1).numpy()
    # Gumbel-max: the argmax is Categorical(softmax(logits)) at any temperature.
    chi2 = n * ((frequencies - p) ** 2 / p).sum()
    assert chi2 < stats.chi2.ppf(0.999, df=3)


def test_gumbel_softmax_soft_mean_sharpens_as_temperature_drops():
    logits = torch.tensor([1.0, 0.0, -1.0])
    n = 20_000
    means = [
        gumbel_softmax(logits.expand(n, 3), t, hard=False, generator=_generator())
        .max(-1)
        .values.mean()
        for t in (5.0, 1.0, 0.1)
    ]
    # Low temperature: samples close to one-hot.
    assert float(means[0]) < float(means[1]) < float(means[2])
    assert float(means[2]) > 0.95


def test_gumbel_softmax_straight_through_gradient():
    torch.manual_seed(0)  # only for the weights below, not the sampling
    weights = torch.randn(8, 5)
    logits = torch.randn(8, 5, requires_grad=True)

    hard = gumbel_softmax(logits, 0.5, hard=True, generator=_generator(7))
    (hard * weights).sum().backward()
    grad_hard = logits.grad.clone()
    logits.grad = None

    soft = gumbel_softmax(logits, 0.5, hard=False, generator=_generator(7))
    (soft * weights).sum().backward()
    grad_soft = logits.grad.clone()

    # Forward: the one-hot argmax of the soft sample; backward: its gradient.
    assert torch.equal(hard.detach(), F.one_hot(soft.argmax(-1), 5).float())
    assert torch.isfinite(grad_hard).all()
    assert grad_hard.abs().sum() > 0
    torch.testing.assert_close(grad_hard, grad_soft)


# ----------------------------------------------------- temperature schedule
def _config(**params):
    return GMVAEClustering(**params)._elbo_settings()


def test_temperature_schedule_halves_per_halflife():
    config = _config(
        temperature_init=2.0, temperature_min=0.01, temperature_halflife=50
    )
    assert temperature_at(0, config) == pytest.approx(2.0)
    assert temperature_at(50, config) == pytest.approx(1.0)
    assert temperature_at(100, config) == pytest.approx(0.5)
    assert temperature_at(25, config) == pytest.approx(2.0 * 0.5**0.5)


def test_temperature_schedule_floor_and_monotone():
    config = _config(temperature_init=1.0, temperature_min=0.3, temperature_halflife=10)
    values = [temperature_at(step, config) for step in range(0, 1000, 7)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert min(values) == pytest.approx(0.3)
    assert temperature_at(10**9, config) == pytest.approx(0.3)


def test_temperature_schedule_counts_steps_not_epochs():
    # The same schedule whatever the number of samples per epoch.
    # The settings do not depend on the data; one step is one optimizer step
    # whatever the batch size, so small and large data sets share it.
    model = GMVAEClustering(temperature_halflife=40)
    small = (model._elbo_settings(), model._training_config(n_samples=10))
    large = (model._elbo_settings(), model._training_config(n_samples=10**5))
    assert small[1].batch_size != large[1].batch_size
    for step in (0, 13, 40, 500):
        assert temperature_at(step, small[0]) == temperature_at(step, large[0])

"""The Gaussian Mixture VAE as a plain :class:`torch.nn.Module`.

Generative model::

    y ~ Categorical(pi)                  pi uniform over K clusters
    z | y ~ N(mu_y, diag(sigma_y^2))     one learned Gaussian per cluster
    x | z ~ p_theta(x | z)               Bernoulli or Gaussian, MLP decoder

Inference model::

    q(y | x) = Categorical(softmax(f(x)))
    q(z | x, y) = N(m(x, y), diag(s(x, y)^2))

The module knows nothing about scikit-learn: it maps float32 tensors to
tensors. The estimator in :mod:`skgmvae._clustering` owns data validation,
devices and the training schedule.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from skgmvae._distributions import (
    log_bernoulli_with_logits,
    log_normal,
    softmax,
)

Likelihood = Literal["bernoulli", "gaussian"]
Categorical = Literal["gumbel", "marginal"]

# Variances are floored so no density can become infinite: a latent or
# observation variance that collapses to zero would make the ELBO unbounded.
LATENT_LOGVAR_FLOOR = math.log(1e-4)
OBSERVATION_LOGVAR_FLOOR = math.log(1e-3)
# q(z | x, y)'s variance is capped too. Its log-variance is close to linear in
# the input, so an input far out in a heavy tail (tens of standard deviations)
# drives it to twenty and more: a draw of z then lands hundreds of thousands
# of code units away, and the batch's loss jumps by ten orders of magnitude.
# The codes have unit variance per dimension, so a posterior ten code units
# wide is already uninformative.
LATENT_LOGVAR_CEILING = math.log(1e2)


def floored_logvar(raw: torch.Tensor, floor: float) -> torch.Tensor:
    """Smoothly map an unconstrained value to a log-variance above ``floor``."""
    return floor + F.softplus(raw - floor)


def _inverse_floored_logvar(
    logvar: torch.Tensor, floor: float = LATENT_LOGVAR_FLOOR
) -> torch.Tensor:
    """The raw value that ``floored_logvar`` maps to ``logvar`` (above floor)."""
    logvar = logvar.clamp_min(floor + 1e-6)
    return floor + torch.log(torch.expm1(logvar - floor))


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them and after the last one."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers)


class GMVAE(nn.Module):
    """Gaussian Mixture Variational Autoencoder.

    Parameters
    ----------
    n_features : int
        Dimension of x.
    n_clusters : int
        Number K of mixture components (values of y).
    latent_dim : int
        Dimension of z.
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers of each encoder trunk; the decoder uses
        them in reverse order.
    likelihood : {"bernoulli", "gaussian"}
        Observation model p(x | z). Bernoulli takes x in [0, 1] and is
        parametrised by logits; Gaussian has a learned per-feature variance.
    """

    def __init__(
        self,
        n_features: int,
        n_clusters: int,
        latent_dim: int,
        hidden_layer_sizes: tuple[int, ...],
        likelihood: Likelihood,
        conditional_encoder: bool = True,
    ) -> None:
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.n_features = n_features
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.likelihood = likelihood

        # q(y | x): its own trunk, as in the reference GMVAE.
        self.qy_trunk = _mlp([n_features, *hidden])
        self.qy_head = nn.Linear(hidden[-1], n_clusters)

        # q(z | x, y): the first layer acting on the concatenation [x, y] is
        # split into W_x x + W_y y, so that with y one-hot the K branches of
        # the exact marginalisation share the cost of W_x x.
        self.qz_input_x = nn.Linear(n_features, hidden[0])
        if conditional_encoder:
            self.qz_input_y = nn.Parameter(torch.empty(n_clusters, hidden[0]))
        else:
            self.register_parameter("qz_input_y", None)
        self.qz_trunk = _mlp(hidden)
        self.qz_head = nn.Linear(hidden[-1], 2 * latent_dim)

        # p(x | z)
        self.decoder = nn.Sequential(
            _mlp([latent_dim, *reversed(hidden)]), nn.Linear(hidden[0], n_features)
        )
        if likelihood == "gaussian":
            self.x_logvar_raw = nn.Parameter(torch.zeros(n_features))

        # p(z | y)
        self.prior_loc = nn.Parameter(torch.empty(n_clusters, latent_dim))
        self.prior_logvar_raw = nn.Parameter(torch.zeros(n_clusters, latent_dim))
        self.register_buffer(
            "log_prior_y", torch.full((n_clusters,), -math.log(n_clusters))
        )

    def architecture(self) -> dict[str, object]:
        """The estimator parameters that shaped this network, read from its
        layers: ``n_clusters``, ``latent_dim``, ``hidden_layer_sizes`` and
        ``conditional_encoder``."""
        hidden = [m.out_features for m in self.qy_trunk if isinstance(m, nn.Linear)]
        return {
            "n_clusters": self.n_clusters,
            "latent_dim": self.latent_dim,
            "hidden_layer_sizes": tuple(hidden),
            "conditional_encoder": self.qz_input_y is not None,
        }

    # ------------------------------------------------------------------ init
    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise every parameter from ``generator`` alone.

        Mirrors PyTorch's default ``nn.Linear`` initialisation but draws from
        the given generator, so a seed fully determines the starting point
        and the global torch RNG is never touched.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.in_features)
                nn.init.uniform_(module.weight, -bound, bound, generator=generator)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
        # All rows equal (zero): q(z | x, y) starts out independent of y and
        # the rows stay equal while warm-up feeds the uniform y.
        if self.qz_input_y is not None:
            self.qz_input_y.zero_()
        nn.init.normal_(self.prior_loc, 0.0, 1.0, generator=generator)
        self.prior_logvar_raw.zero_()
        if self.likelihood == "gaussian":
            self.x_logvar_raw.zero_()

    @torch.no_grad()
    def set_input_scaling(self, shift: torch.Tensor, scale: torch.Tensor) -> None:
        """Let the networks see ``(x - shift) / scale`` instead of ``x``.

        Gaussian likelihood only. The encoders take the standardised input;
        the decoder's mean and variance are mapped back, so p(x | z) and
        every density stay in the units of ``x``. Without it, inputs in the
        thousands make each Adam step move the first layers' outputs by
        hundreds, and q(z | x, y)'s variance overflows within a few steps.
        """
        # x = shift + scale * u, the networks working on u. Buffers only in
        # a scaled model, so that an unscaled one computes exactly as before.
        self.register_buffer("x_shift", shift.clone())
        self.register_buffer("x_scale", scale.clone())

    @property
    def input_scaled(self) -> bool:
        """Whether the networks see scaled inputs (:meth:`set_input_scaling`)."""
        return "x_scale" in self._buffers

    def _encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        if not self.input_scaled:
            return x
        return (x - self.x_shift) / self.x_scale

    def cluster_indexed_tensors(self) -> list[torch.Tensor]:
        """Parameters and buffers whose first axis runs over the K clusters."""
        tensors = [
            self.qy_head.weight,
            self.qy_head.bias,
            self.prior_loc,
            self.prior_logvar_raw,
            self.log_prior_y,
        ]
        if self.qz_input_y is not None:
            tensors.append(self.qz_input_y)
        return tensors

    # ------------------------------------------------------------- inference
    def qy_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of q(y | x), shape ``(batch, K)``."""
        return self.qy_head(self.qy_trunk(self._encoder_input(x))).float()

    def qy_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Cluster probabilities q(y | x), shape ``(batch, K)``."""
        return softmax(self.qy_logits(x))

    def qz_params(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x, y) for a (relaxed) one-hot ``y``."""
        h = self.qz_input_x(self._encoder_input(x))
        if self.qz_input_y is not None:
            h = h + y @ self.qz_input_y
        return self._qz_output(F.relu(h))

    @property
    def conditional_encoder(self) -> bool:
        """Whether q(z | x, y) depends on y (it has the y weights)."""
        return self.qz_input_y is not None

    def qz_params_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x, y=k) for every k: ``(batch, K, D)``.

        Without a conditional encoder q(z | x, y) = q(z | x) and the middle
        axis has length 1, which broadcasts against the K prior components:
        the decoder then runs once per sample instead of K times.
        """
        hx = self.qz_input_x(self._encoder_input(x)).unsqueeze(1)
        if self.qz_input_y is None:
            return self._qz_output(F.relu(hx))
        return self._qz_output(F.relu(hx + self.qz_input_y.unsqueeze(0)))

    def _qz_output(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # .float(): under bfloat16 autocast the layers run in bfloat16, but
        # densities and their sums are computed in float32.
        loc, raw = self.qz_head(self.qz_trunk(h)).float().chunk(2, dim=-1)
        logvar = floored_logvar(raw, LATENT_LOGVAR_FLOOR)
        return loc, logvar.clamp_max(LATENT_LOGVAR_CEILING)

    # ------------------------------------------------------------ generative
    def prior_params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of p(z | y=k) for every k: ``(K, D)``."""
        return self.prior_loc, floored_logvar(
            self.prior_logvar_raw, LATENT_LOGVAR_FLOOR
        )

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits or Gaussian means of p(x | z)."""
        decoded = self.decoder(z).float()
        if not self.input_scaled:
            return decoded
        return self.x_shift + self.x_scale * decoded

    def observation_mean(self, decoded: torch.Tensor) -> torch.Tensor:
        """E[x | z] from the decoder output."""
        return torch.sigmoid(decoded) if self.likelihood == "bernoulli" else decoded

    def log_px(self, x: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        """log p(x | z), summed over features; ``x`` broadcasts over extra axes."""
        if self.likelihood == "bernoulli":
            return log_bernoulli_with_logits(x.expand_as(decoded), decoded)
        logvar = floored_logvar(self.x_logvar_raw, OBSERVATION_LOGVAR_FLOOR)
        if self.input_scaled:
            logvar = logvar + 2.0 * torch.log(self.x_scale)
        return log_normal(x, decoded, logvar)

    # ------------------------------------------------------------- warm-up
    def autoencoder_code(self, x: torch.Tensor) -> torch.Tensor:
        """The code m(x, uniform y) of the warm-up autoencoder.

        y enters as the uniform vector, so no cluster is favoured; the
        losses in :mod:`skgmvae._losses` train x -> code -> x through it.
        """
        y = torch.full(
            (x.shape[0], self.n_clusters), 1.0 / self.n_clusters, device=x.device
        )
        return self.qz_params(x, y)[0]

    @torch.no_grad()
    def autoencoder_embed(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`autoencoder_code` without gradients, for the codes of the data."""
        return self.autoencoder_code(x)

    def prior_log_responsibilities(self, z: torch.Tensor) -> torch.Tensor:
        """log p(y=k | z) under the prior, shape ``(batch, K)``."""
        prior_loc, prior_logvar = self.prior_params()
        joint = log_normal(z.unsqueeze(1), prior_loc, prior_logvar) + self.log_prior_y
        return F.log_softmax(joint, dim=-1)

    @torch.no_grad()
    def standardize_latent(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Re-express z as (z - mean) / std without changing the autoencoder.

        The encoder's mean output and the decoder's first layer are rescaled
        so that x -> z -> x computes the same function, but codes of the
        training data have zero mean and unit variance per dimension: the
        mixture prior is then fitted, floored and learned on a known scale.
        """
        D = self.latent_dim
        head, first = self.qz_head, self.decoder[0][0]
        head.weight[:D] /= std.unsqueeze(1)
        head.bias[:D] = (head.bias[:D] - mean) / std
        first.bias += first.weight @ mean
        first.weight *= std.unsqueeze(0)

    @torch.no_grad()
    def set_posterior_variance(self, var: torch.Tensor) -> None:
        """Make q(z | x, y) start with the variance ``var`` for every input."""
        D = self.latent_dim
        self.qz_head.weight[D:] = 0.0
        self.qz_head.bias[D:] = _inverse_floored_logvar(torch.log(var))

    @torch.no_grad()
    def set_prior(self, loc: torch.Tensor, var: torch.Tensor) -> None:
        """Set p(z | y=k) = N(loc[k], diag(var[k])), inverting the variance floor."""
        self.prior_loc.copy_(loc)
        self.prior_logvar_raw.copy_(_inverse_floored_logvar(torch.log(var)))

    @torch.no_grad()
    def set_mixture_weights(self, weights: torch.Tensor) -> None:
        """Set p(y) to ``weights`` (positive, summing to one)."""
        self.log_prior_y.copy_(torch.log(weights))

    # ------------------------------------------------- deterministic outputs
    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean E_q[z | x] = sum_k q(k | x) m(x, k), shape ``(batch, D)``."""
        qy = self.qy_probs(x)
        loc, _ = self.qz_params_all(x)
        return (qy.unsqueeze(-1) * loc).sum(1)

    @torch.no_grad()
    def sample(
        self,
        n_samples: int,
        generator: torch.Generator,
        y: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``(E[x | z], y)`` with y ~ p(y) (or the given ``y``) and
        z ~ p(z | y)."""
        device = self.prior_loc.device
        if y is None:
            y = torch.multinomial(
                self.log_prior_y.exp(), n_samples, replacement=True, generator=generator
            )
        prior_loc, prior_logvar = self.prior_params()
        eps = torch.randn(
            (n_samples, self.latent_dim), generator=generator, device=device
        )
        z = prior_loc[y] + eps * torch.exp(0.5 * prior_logvar[y])
        return self.observation_mean(self.decode(z)), y

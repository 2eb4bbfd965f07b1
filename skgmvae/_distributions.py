"""Log-densities, divergences and the Gumbel-Softmax relaxation.

Pure functions on tensors; every one reduces over the last (feature) axis and
keeps the leading (batch) axes, so callers decide how to average.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LOG_2PI = math.log(2.0 * math.pi)


def log_normal(
    x: torch.Tensor, loc: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """Log-density of a diagonal Gaussian, summed over the last axis."""
    return -0.5 * (_LOG_2PI + logvar + (x - loc).pow(2) * torch.exp(-logvar)).sum(-1)


def log_bernoulli_with_logits(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Log-likelihood of ``x`` in [0, 1] under Bernoulli(sigmoid(logits)).

    Computed from the logits with ``binary_cross_entropy_with_logits``, which
    never forms ``log(sigmoid(.))`` and so stays finite for large logits.
    """
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def kl_normal_normal(
    loc_q: torch.Tensor,
    logvar_q: torch.Tensor,
    loc_p: torch.Tensor,
    logvar_p: torch.Tensor,
) -> torch.Tensor:
    """KL(N(loc_q, exp(logvar_q)) || N(loc_p, exp(logvar_p))), summed over last axis."""
    return 0.5 * (
        logvar_p
        - logvar_q
        + (torch.exp(logvar_q) + (loc_q - loc_p).pow(2)) * torch.exp(-logvar_p)
        - 1.0
    ).sum(-1)


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """``softmax(logits)`` over the last axis, as ``exp(log_softmax(logits))``.

    The same values as ``torch.softmax`` to rounding, but a gradient that
    does not depend on the number of threads: torch's CPU kernel for the
    softmax's backward pass rounds differently for rows that are not whole
    SIMD vectors (K = 10 on AVX2) depending on how the batch is split
    between threads, while the log-softmax's backward does not.
    """
    return F.log_softmax(logits, dim=-1).exp()


def kl_categorical_uniform(logits: torch.Tensor) -> torch.Tensor:
    """KL(Categorical(softmax(logits)) || Uniform(K)) for K = ``logits.shape[-1]``."""
    log_q = F.log_softmax(logits, dim=-1)
    n_categories = logits.shape[-1]
    return (log_q.exp() * log_q).sum(-1) + math.log(n_categories)


def kl_categorical(logits: torch.Tensor, log_prior: torch.Tensor) -> torch.Tensor:
    """KL(Categorical(softmax(logits)) || Categorical(exp(log_prior)))."""
    log_q = F.log_softmax(logits, dim=-1)
    return (log_q.exp() * (log_q - log_prior)).sum(-1)


def sample_gumbel(
    shape: torch.Size | tuple[int, ...],
    *,
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard Gumbel noise, -log(-log(U)), drawn from ``generator``."""
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
    tiny = torch.finfo(dtype).tiny
    neg_log_u = (-torch.log(u.clamp_min(tiny))).clamp_min(tiny)
    return -torch.log(neg_log_u)


def gumbel_softmax(
    logits: torch.Tensor,
    temperature: float | torch.Tensor,
    *,
    hard: bool,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Draw a relaxed one-hot sample from Categorical(softmax(logits)).

    With ``hard=True`` the forward value is the exact one-hot argmax and the
    gradient is that of the soft sample (straight-through estimator).
    """
    noise = sample_gumbel(
        logits.shape, generator=generator, device=logits.device, dtype=logits.dtype
    )
    y_soft = softmax((logits + noise) / temperature)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim=-1, keepdim=True)
    y_hard = torch.zeros_like(y_soft).scatter_(-1, index, 1.0)
    return y_hard - y_soft.detach() + y_soft

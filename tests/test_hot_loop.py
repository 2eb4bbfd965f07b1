"""The training epoch never waits on the device nor copies from the host.

On a GPU a read of a tensor's value (``.item()``, ``bool(tensor)``, ...)
stalls the host until the device catches up, and a tensor made from host
data is a copy per batch. The epoch loop is written to do neither: the data
is moved once, and loss terms are summed on the device and read once per
epoch, after the loop. These tests check that on any machine, CPU included,
by counting such calls during whole fits; ``test_cuda.py`` checks the same
with CUDA's own synchronisation detector where a GPU is present.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import skgmvae._training as training
from skgmvae import GMVAEClustering
from skgmvae._losses import AutoencoderObjective
from skgmvae._module import GMVAE

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Tensor methods that read values back to the host.
READS = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__")
# Functions that make a tensor from host data.
MAKERS = ("tensor", "as_tensor", "from_numpy")


@contextlib.contextmanager
def _counting_epochs(monkeypatch):
    """Count host reads and host-made tensors inside ``_run_epoch`` calls."""
    calls: list[str] = []
    inside = [0]
    epochs = [0]

    def wrap(owner, name):
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            if inside[0]:
                calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    for name in READS:
        wrap(torch.Tensor, name)
    for name in MAKERS:
        wrap(torch, name)
    run_epoch = training._run_epoch

    def counted_epoch(*args, **kwargs):
        inside[0] += 1
        epochs[0] += 1
        try:
            return run_epoch(*args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(training, "_run_epoch", counted_epoch)
    yield calls, epochs


@pytest.mark.parametrize(
    "params",
    [
        {},  # graph start, alignment and neighbour stages, ELBO with neighbours
        {"neighbor_weight": 0.0, "balance_weight": 0.0, "init_params": "gmm"},
        {"categorical": "marginal", "hard_gumbel": True},
        {"precision": "bfloat16"},
    ],
)
def test_epochs_never_read_back_or_copy_from_the_host(
    monkeypatch, digits01, fast, params
):
    X = digits01[0]
    model = GMVAEClustering(
        **{**fast, "n_clusters": 4, "random_state": 0, "max_iter": 2, **params}
    )
    with _counting_epochs(monkeypatch) as (calls, epochs):
        model.fit(X)
    assert epochs[0] >= 4  # warm-up stages and ELBO epochs all went through
    assert calls == []


def test_the_counter_sees_a_read_back(monkeypatch):
    """The check above can fail: a loop that reads a loss is caught."""

    class ReadingObjective(AutoencoderObjective):
        def __call__(self, module, batch, step):
            out = super().__call__(module, batch, step)
            out.loss.sum().item()
            return out

    X = torch.rand(64, 5)
    module = GMVAE(5, 2, 2, (4,), "bernoulli")
    module.reset_parameters(torch.Generator().manual_seed(0))
    config = training.TrainingConfig(batch_size=16)
    state = training.TrainingState(training.make_optimizer(module, 1e-3))
    with _counting_epochs(monkeypatch) as (calls, _):
        training.train(
            module,
            X,
            ReadingObjective(),
            state,
            training.FixedEpochs(1),
            config,
            torch.Generator().manual_seed(0),
        )
    assert calls == ["item"] * 4
    assert np.isfinite(state.history[0]["loss"])

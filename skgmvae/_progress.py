"""What ``verbose=1`` prints: the stage, each epoch of it, and the time left.

Lines are prefixed with the stage's name in brackets (``[autoencoder]``,
``[initial clusters]``, ``[ELBO]``, ...). Training stages print one line per
epoch with ``epoch i/N``, the epoch's seconds and an estimate of the time
left from the mean epoch so far; every warm-up stage also says when it
starts and how long it took, which is all that steps without epochs
(neighbour search, initial clusters) print.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EpochCallback = Callable[[int, dict[str, float]], None]


def epoch_printer(
    stage: str,
    n_epochs: int | None,
    *,
    first_epoch: int = 0,
    may_stop_early: bool = False,
    details: Callable[[dict[str, float]], str] | None = None,
) -> EpochCallback:
    """A training loop's ``on_epoch_end`` that prints one line per epoch.

    ``n_epochs`` is the planned number of epochs (None when open-ended);
    with ``may_stop_early`` the time left is an upper bound. Epochs are
    numbered from ``first_epoch + 1``; ``details`` adds text after the loss.
    """
    seconds: list[float] = []

    def report(epoch: int, record: dict[str, float]) -> None:
        seconds.append(record["seconds"])
        line = f"[{stage}] epoch {first_epoch + epoch}"
        if n_epochs is not None:
            line += f"/{first_epoch + n_epochs}"
        line += f": loss {record['loss']:.4f}"
        if details is not None:
            line += details(record)
        line += f", {record['seconds']:.2f} s"
        if n_epochs is not None and epoch < n_epochs:
            left = sum(seconds) / len(seconds) * (n_epochs - epoch)
            shown = f"{left:.0f}" if left >= 10 else f"{left:.1f}"
            line += f", {'at most' if may_stop_early else 'about'} {shown} s left"
        print(line, flush=True)

    return report


@contextmanager
def stage_timer(stage: str, verbose: int) -> Iterator[None]:
    """Say that a stage started, then how long it took."""
    if not verbose:
        yield
        return
    print(f"[{stage}] ...", flush=True)
    tic = time.perf_counter()
    yield
    print(f"[{stage}] done in {time.perf_counter() - tic:.1f} s", flush=True)

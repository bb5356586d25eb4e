"""The measurement loop: warm up, then repeat until the median is known well enough.

Each sample times ONE call (``fn`` then ``sync``), so the raw samples carry the run-to-run spread
that the statistics summarise. The clock and the synchronisation hook are injectable: tests drive
the loop with a fake timer and check the stopping rule and the statistics exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ortkit.profiler._spec import Budget
from ortkit.profiler._stats import Stats

__all__ = ["Measurement", "measure"]

Timer = Callable[[], float]


@dataclass(frozen=True)
class Measurement:
    """Raw samples (milliseconds) of one measured call and why measuring stopped.

    ``stop_reason`` is ``"converged"`` (the 95% CI of the median reached the target),
    ``"max_runs"`` or ``"max_time"`` (the budget ended first).
    """

    samples_ms: tuple[float, ...]
    warmup_ms: tuple[float, ...]
    stop_reason: str
    elapsed_s: float

    @property
    def stats(self) -> Stats:
        return Stats.from_samples(self.samples_ms)


def _check_every(n: int) -> int:
    # Recomputing the CI costs O(n); checking at ~5% growth keeps the overhead negligible.
    return max(1, n // 20)


def measure(
    fn: Callable[[], object],
    budget: Budget = Budget(),
    *,
    timer: Timer = time.perf_counter,
    sync: Callable[[], object] | None = None,
) -> Measurement:
    """Time ``fn`` repeatedly under ``budget``.

    Warm-up runs ``budget.warmup_runs`` calls and keeps going until ``budget.warmup_time_s`` has
    passed (caches, allocator arenas and lazy kernel selection settle for this shape). Then every
    call is timed on its own, ``sync`` (device synchronisation) included, until the 95% confidence
    interval of the median is within ``budget.target_rel_ci`` of it, or the run/time budget ends.

    Args:
        fn: the call to measure.
        budget: warm-up, repetition and stopping settings.
        timer: a monotonic clock in seconds (tests pass a fake one).
        sync: called after ``fn`` and before the clock is read, e.g. ``torch.cuda.synchronize``.

    Returns:
        The raw samples in milliseconds and the stop reason.
    """
    warmup: list[float] = []
    start = timer()
    while len(warmup) < budget.warmup_runs or (warmup and timer() - start < budget.warmup_time_s):
        t0 = timer()
        fn()
        if sync is not None:
            sync()
        warmup.append((timer() - t0) * 1e3)
        if len(warmup) >= max(budget.warmup_runs, 1) * 1000:
            break  # a pathological clock must not make warm-up endless

    samples: list[float] = []
    begin = timer()
    next_check = budget.min_runs
    reason = "max_runs"
    while len(samples) < budget.max_runs:
        t0 = timer()
        fn()
        if sync is not None:
            sync()
        t1 = timer()
        samples.append((t1 - t0) * 1e3)
        if t1 - begin >= budget.max_time_s and len(samples) >= 1:
            reason = "max_time"
            break
        if len(samples) >= next_check:
            if Stats.from_samples(samples).rel_ci <= budget.target_rel_ci:
                reason = "converged"
                break
            next_check = len(samples) + _check_every(len(samples))
    return Measurement(tuple(samples), tuple(warmup), reason, timer() - begin)

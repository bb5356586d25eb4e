"""The measurement loop: warm up, then repeat until the median is known well enough.

Each sample times ONE call (``fn`` then ``sync``), so the raw samples carry the run-to-run spread
that the statistics summarise. The clock and the synchronisation hook are injectable: tests drive
the loop with a fake timer and check the stopping rule and the statistics exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ortkit.profiler._spec import Budget
from ortkit.profiler._stats import Stats

__all__ = ["Measurement", "measure", "calibrate", "time_slice", "serve_slices", "LOOP_TARGET_MS"]

Timer = Callable[[], float]
#: a calibrated loop lasts at least this long, so reading the clock (~0.1 us) costs < 1% of it
LOOP_TARGET_MS = 0.1
# Warm-up ends when the median of the last WINDOW calls is within WARM_TOLERANCE of the WINDOW
# before it (the caches, arenas and kernel choices have settled), or after WARM_MAX_S.
WINDOW = 5
WARM_TOLERANCE = 0.05
WARM_MAX_S = 1.0

# Set by a worker in interleaved mode: `measure` then hands the prepared call to it, and the
# server answers the parent's slice requests with it until told to stop (so the ORT and PyTorch
# runners need no second code path).
_SLICE_SERVER: Callable[[Callable[[], object], "Callable[[], object] | None", Budget], "Measurement"] | None = None


def serve_slices(server: Callable[[Callable[[], object], "Callable[[], object] | None", Budget], "Measurement"] | None) -> None:
    """Install (or remove, with None) the function `measure` delegates to in interleaved mode."""
    global _SLICE_SERVER
    _SLICE_SERVER = server


def _one(fn: Callable[[], object], sync: Callable[[], object] | None, timer: Timer, loops: int = 1) -> float:
    t0 = timer()
    for _ in range(loops):
        fn()
    if sync is not None:
        sync()
    return (timer() - t0) * 1e3 / loops


def calibrate(fn: Callable[[], object], budget: Budget = Budget(), *, timer: Timer = time.perf_counter,
              sync: Callable[[], object] | None = None) -> tuple[tuple[float, ...], int]:
    """pyperf-style warm-up and loop calibration.

    Warm-up runs at least ``budget.warmup_runs`` calls and ``budget.warmup_time_s``, then goes on
    until two successive windows of `WINDOW` calls have medians within `WARM_TOLERANCE` (or
    `WARM_MAX_S` passed): a fixed count is too short for a model whose first calls allocate, and
    too long for one that is warm at once. The loop count makes one timed loop last at least
    `LOOP_TARGET_MS`, so a 6 us call is timed 17 calls at a time and the clock's own cost stays
    under 1%.

    Returns:
        (warm-up samples in ms, calls per timed loop).
    """
    warmup: list[float] = []
    start = timer()
    while True:
        warmup.append(_one(fn, sync, timer))
        elapsed = timer() - start
        if len(warmup) >= max(budget.warmup_runs, 2 * WINDOW) and elapsed >= budget.warmup_time_s:
            last, before = np.median(warmup[-WINDOW:]), np.median(warmup[-2 * WINDOW : -WINDOW])
            if before > 0 and abs(last - before) / before <= WARM_TOLERANCE:
                break
        if elapsed >= max(WARM_MAX_S, budget.warmup_time_s) or len(warmup) >= 100_000:
            break
    typical = float(np.median(warmup[-WINDOW:]))
    loops = 1 if typical >= LOOP_TARGET_MS or typical <= 0 else int(math.ceil(LOOP_TARGET_MS / typical))
    return tuple(warmup), loops


def time_slice(fn: Callable[[], object], seconds: float, *, min_runs: int = 3, loops: int = 1, timer: Timer = time.perf_counter,
               sync: Callable[[], object] | None = None, rewarm: bool = False) -> tuple[float, ...]:
    """One slice of an interleaved round: samples (ms per call; a sample is the mean of ``loops``
    calls) for ``seconds`` and at least ``min_runs`` samples. With ``rewarm`` one untimed loop
    runs first: between slices the worker parsed and wrote protocol lines and other workers ran,
    which leaves the caches cold for the first call (worth it only when a call is short next to
    the slice)."""
    if rewarm:
        for _ in range(loops):
            fn()
        if sync is not None:
            sync()
    samples: list[float] = []
    begin = timer()
    while len(samples) < min_runs or timer() - begin < seconds:
        samples.append(_one(fn, sync, timer, loops))
    return tuple(samples)


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


#: at least this many timed calls between two checks of the stopping rule (see `_check_every`)
MIN_CHECK_GAP = 10


def _check_every(n: int) -> int:
    # Recomputing the CI costs O(n); checking at ~5% growth keeps the overhead negligible. The
    # check's own work (sorting, a few hundred Python floats) also evicts the model's weights
    # from the caches, so checking after every call made EVERY sample a cold-cache call: 2 to 5%
    # slower than a bare loop on a 0.2 to 0.6 ms call (benchmarks/profiler_trust.py, check (a)).
    return max(MIN_CHECK_GAP, n // 20)


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
    if _SLICE_SERVER is not None:
        return _SLICE_SERVER(fn, sync, budget)
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
            # One untimed call after the check restores the caches it evicted, so the next
            # sample is a call like any other in a tight loop.
            if len(samples) < budget.max_runs:
                fn()
                if sync is not None:
                    sync()
    return Measurement(tuple(samples), tuple(warmup), reason, timer() - begin)

from __future__ import annotations

import itertools

import pytest

from ortkit.profiler._engine import measure
from ortkit.profiler._spec import Budget


class FakeClock:
    """A clock that advances only when the measured call runs, by a scripted duration."""

    def __init__(self, durations: list[float]) -> None:
        self.now = 0.0
        self.durations = itertools.cycle(durations)
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += next(self.durations)


def test_constant_durations_converge_at_min_runs_with_exact_samples() -> None:
    clock = FakeClock([0.002])
    m = measure(clock.work, Budget(warmup_runs=3, warmup_time_s=0.0, min_runs=10), timer=clock)
    assert m.stop_reason == "converged"
    assert len(m.warmup_ms) == 3
    assert len(m.samples_ms) == 10
    assert all(s == pytest.approx(2.0) for s in m.samples_ms)
    assert m.stats.p50 == pytest.approx(2.0) and not m.stats.unstable


def test_noisy_durations_need_more_runs_and_stop_at_the_count_budget() -> None:
    clock = FakeClock([0.001, 0.003])  # alternating: the median is never pinned within 1%
    m = measure(clock.work, Budget(warmup_runs=0, warmup_time_s=0.0, min_runs=10, max_runs=60, max_time_s=100), timer=clock)
    assert m.stop_reason == "max_runs"
    assert len(m.samples_ms) == 60
    assert m.stats.unstable
    assert sorted(set(round(s, 6) for s in m.samples_ms)) == [1.0, 3.0]


def test_time_budget_ends_measurement() -> None:
    clock = FakeClock([0.1, 0.3])
    m = measure(clock.work, Budget(warmup_runs=1, warmup_time_s=0.0, min_runs=10, max_runs=10_000, max_time_s=1.0), timer=clock)
    assert m.stop_reason == "max_time"
    assert 1.0 <= sum(m.samples_ms) / 1e3 < 1.3


def test_warmup_runs_until_its_time_has_passed() -> None:
    clock = FakeClock([2.0**-6])  # binary fractions: no rounding at the boundary
    m = measure(clock.work, Budget(warmup_runs=2, warmup_time_s=6 * 2.0**-6, min_runs=5), timer=clock)
    assert len(m.warmup_ms) == 6


def test_sync_is_inside_the_timed_region() -> None:
    clock = FakeClock([0.001])
    m = measure(clock.work, Budget(warmup_runs=0, warmup_time_s=0.0, min_runs=5), timer=clock, sync=lambda: setattr(clock, "now", clock.now + 0.004))
    assert m.stats.p50 == pytest.approx(5.0)


def test_mostly_stable_samples_converge_after_enough_runs() -> None:
    # 1 run in 10 is 20% slower: the median is still pinned, once there are enough samples.
    clock = FakeClock([0.010] * 9 + [0.012])
    m = measure(clock.work, Budget(warmup_runs=0, warmup_time_s=0.0, min_runs=10, max_runs=5000, max_time_s=1000), timer=clock)
    assert m.stop_reason == "converged"
    assert m.stats.p50 == pytest.approx(10.0)


def test_the_stopping_rule_is_checked_every_ten_calls_and_each_check_is_followed_by_an_untimed_call() -> None:
    # The check's own work leaves the caches cold: the call after it is not a sample, and checks
    # are spaced so that they cannot touch most samples.
    clock = FakeClock([0.001, 0.003])
    m = measure(clock.work, Budget(warmup_runs=0, warmup_time_s=0.0, min_runs=10, max_runs=60, max_time_s=100), timer=clock)
    assert len(m.samples_ms) == 60
    # checks after samples 10, 20, 30, 40, 50 (none converged): five untimed calls
    assert clock.calls == 60 + 5


def test_a_slice_rewarms_with_one_untimed_loop_only_when_asked() -> None:
    from ortkit.profiler._engine import time_slice

    clock = FakeClock([0.001])
    samples = time_slice(clock.work, 0.0, min_runs=4, loops=3, timer=clock)
    assert len(samples) == 4 and clock.calls == 12
    clock = FakeClock([0.001])
    samples = time_slice(clock.work, 0.0, min_runs=4, loops=3, timer=clock, rewarm=True)
    assert len(samples) == 4 and clock.calls == 15
    assert all(s == pytest.approx(1.0) for s in samples)

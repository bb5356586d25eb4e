"""Known-answer tests of the report's statistics: synthetic data whose exponent, crossover,
front and ratio are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ortkit.report._analysis import (
    compare_samples,
    find_crossover,
    fit_scaling,
    mann_whitney,
    pareto_front,
    ratio_ci,
    t_quantile,
)


@pytest.mark.parametrize(("df", "expected"), [(1, 12.7062), (2, 4.3027), (5, 2.5706), (10, 2.2281), (30, 2.0423)])
def test_t_quantile_matches_tables(df: int, expected: float) -> None:
    assert t_quantile(0.95, df) == pytest.approx(expected, abs=1e-4)


def test_fit_scaling_recovers_exact_power_law() -> None:
    times = [16, 64, 256, 1024]
    fit = fit_scaling(times, [0.02 * t**1.5 for t in times])
    assert fit is not None
    assert fit.exponent == pytest.approx(1.5, abs=1e-9)
    assert fit.coefficient == pytest.approx(0.02, rel=1e-9)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.ci_low == pytest.approx(1.5) and fit.ci_high == pytest.approx(1.5)


def test_fit_scaling_interval_covers_true_exponent_under_noise() -> None:
    rng = np.random.default_rng(3)
    times = np.geomspace(8, 4096, 10)
    covered = 0
    for _ in range(200):
        latency = 0.5 * times**0.8 * np.exp(rng.normal(0, 0.1, times.size))
        fit = fit_scaling(times, latency)
        assert fit is not None
        covered += fit.ci_low <= 0.8 <= fit.ci_high
    # a 95% interval covers about 190 of 200; far fewer means the interval is wrong
    assert 178 <= covered <= 199


def test_fit_scaling_refuses_to_invent_a_slope() -> None:
    assert fit_scaling([128], [1.0]) is None
    assert fit_scaling([128, 128], [1.0, 2.0]) is None
    assert fit_scaling([16, 32], [0.0, -1.0]) is None
    two = fit_scaling([16, 32], [1.0, 2.0])
    assert two is not None and two.exponent == pytest.approx(1.0) and math.isnan(two.ci_low)


def test_crossover_interpolated_in_log_space() -> None:
    # RNN latency ~ T (linear), CNN constant 100: they meet exactly at T = 100.
    times = [10, 50, 200, 1000]
    rnn = [1.0 * t for t in times]
    cnn = [100.0] * 4
    result = find_crossover(times, cnn, rnn)
    assert result.kind == "crossover"
    assert result.time == pytest.approx(100.0, rel=1e-9)
    assert (result.lower, result.upper) == (50.0, 200.0)
    assert "T ~ 100" in result.describe()


def test_crossover_with_power_laws_meeting_off_grid() -> None:
    # cnn = 5 * T^0.5, rnn = 0.1 * T^1 -> equal at T = 2500, between 1000 and 4000
    times = [10, 100, 1000, 4000]
    result = find_crossover(times, [5 * t**0.5 for t in times], [0.1 * t for t in times])
    assert result.kind == "crossover"
    assert result.time == pytest.approx(2500.0, rel=1e-9)


def test_no_crossover_and_cnn_faster_throughout() -> None:
    times = [16, 64, 256]
    none = find_crossover(times, [10.0, 20.0, 40.0], [1.0, 2.0, 4.0])
    assert none.kind == "none" and none.time is None
    assert "no crossover in the measured range" in none.describe()
    ahead = find_crossover(times, [1.0, 1.0, 1.0], [2.0, 4.0, 8.0])
    assert ahead.kind == "cnn-faster"
    assert find_crossover([16], [1.0], [2.0]).kind == "insufficient"


def test_crossover_counts_recrossings_and_sorts_input() -> None:
    times = [400, 100, 200, 800]
    cnn = [1.0, 3.0, 1.0, 3.0]
    rnn = [2.0, 2.0, 2.0, 2.0]
    result = find_crossover(times, cnn, rnn)
    # sorted: T=100 slower, 200 faster, 400 faster, 800 slower again
    assert result.kind == "crossover" and result.lower == 100 and result.upper == 200
    assert result.recrossings == 1


def test_pareto_front_known_points() -> None:
    latency = [1.0, 2.0, 3.0, 2.5, 0.5, float("nan")]
    accuracy = [0.90, 0.95, 0.99, 0.94, 0.50, 1.0]
    # (2.5, 0.94) is dominated by (2.0, 0.95); NaN is never on the front
    assert pareto_front(latency, accuracy) == [4, 0, 1, 2]
    # for a loss (lower is better) the front is the lowest-latency, lowest-loss points
    assert pareto_front([1.0, 2.0, 3.0], [0.1, 0.05, 0.2], higher_is_better=False) == [0, 1]


def test_ratio_ci_brackets_the_true_ratio() -> None:
    rng = np.random.default_rng(0)
    a = 2.0 * (1 + rng.exponential(0.05, 400))
    b = 1.0 * (1 + rng.exponential(0.05, 400))
    estimate = ratio_ci(a, b)
    assert estimate.low < estimate.ratio < estimate.high
    assert estimate.low < 2.0 < estimate.high
    assert estimate.high - estimate.low < 0.1
    with pytest.raises(ValueError):
        ratio_ci([], [1.0])


def test_mann_whitney_known_values() -> None:
    # completely separated samples of 10 and 10: U = 0, z = (50 - 0.5) / sqrt(175) -> p ~ 0.000183
    u, p = mann_whitney(list(range(10)), list(range(10, 20)))
    assert u == 0.0
    assert p == pytest.approx(0.000183, rel=0.02)
    _, p_same = mann_whitney([1.0] * 5, [1.0] * 7)
    assert p_same == 1.0


def test_compare_samples_verdicts() -> None:
    rng = np.random.default_rng(1)
    base = 1.0 + rng.exponential(0.02, 300)
    slower = 1.2 * (1.0 + rng.exponential(0.02, 300))
    same = 1.0 + rng.exponential(0.02, 300)
    faster = 0.7 * (1.0 + rng.exponential(0.02, 300))
    assert compare_samples(base, slower, threshold=0.05).verdict == "regression"
    assert compare_samples(base, slower, threshold=0.5).verdict == "unchanged"
    assert compare_samples(base, same, threshold=0.05).verdict == "unchanged"
    assert compare_samples(base, faster, threshold=0.05).verdict == "improvement"
    cmp = compare_samples(base, slower)
    assert cmp.ratio == pytest.approx(1.2, rel=0.03)
    assert cmp.low <= cmp.ratio <= cmp.high


def test_ratio_crossover_states_its_interval_or_says_it_is_not_resolved() -> None:
    from ortkit.profiler import Ratio
    from ortkit.report._analysis import ratio_crossover

    times = [16, 64, 256, 1024]
    clear = [Ratio(4.0, 3.8, 4.2, 8, True), Ratio(2.0, 1.9, 2.1, 8, True), Ratio(0.5, 0.45, 0.55, 8, True), Ratio(0.2, 0.18, 0.22, 8, True)]
    found = ratio_crossover(times, clear)
    assert found.kind == "crossover" and found.low <= found.time <= found.high and 64 < found.low and found.high < 256
    wide = [Ratio(4.0, 3.8, 4.2, 8, True), Ratio(1.1, 0.8, 1.4, 8, True), Ratio(0.95, 0.7, 1.2, 8, True), Ratio(0.9, 0.6, 1.3, 8, True)]
    unresolved = ratio_crossover(times, wide)
    assert unresolved.kind == "not-resolved" and (unresolved.low, unresolved.high) == (64, 1024)
    assert "not resolved: the ratio's CI spans 1 between T = 64 and 1024" in unresolved.describe("tcn", "lstm")
    assert ratio_crossover(times, [Ratio(0.5, 0.4, 0.6, 8, True)] * 4).kind == "cnn-faster"


def test_group_level_comparison_does_not_call_process_noise_a_change() -> None:
    from types import SimpleNamespace

    from ortkit.report._analysis import compare_groups

    rng = np.random.default_rng(3)
    # The A/A case: three processes with medians 1.14, 1.48 and 1.92 ms, then again with
    # other process medians; pooled samples call it a 0.64x change with p ~ 0.
    def run(medians: list[float]) -> SimpleNamespace:
        samples = tuple(float(x) for m in medians for x in rng.normal(m, 0.01, 1000))
        return SimpleNamespace(samples_ms=samples, metrics=SimpleNamespace(process_p50_ms=tuple(medians), round_p50_ms=(), round_ids=()))

    a, b = run([1.92, 1.48, 1.14]), run([1.10, 1.25, 1.50])
    assert compare_groups(a, b).verdict == "unchanged"

"""Uncertainty at the level where the variance is: per-round (or per-process) medians, and ratios
of configurations measured in the same rounds.

Samples of one process are not independent draws of the configuration's latency: a process (or a
round) has its own memory layout, thread placement and machine state, which moves all its samples
together. A CI from pooled samples then ignores the largest part of the variance (three processes
with medians 1.14, 1.48 and 1.92 ms gave a +-1% CI from 3000 pooled samples). So a configuration's
uncertainty comes from its group medians (Kalibera & Jones), and a comparison of two
configurations measured side by side is the median of their per-round ratios, where the drift that
hit both rounds alike cancels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ortkit.profiler._stats import median_ci

__all__ = ["Groups", "Ratio", "group_ci", "paired_ratio", "ratio_between", "round_spread", "ROUND_SPREAD_LIMIT", "robust_unstable"]

#: between-round spread (IQR of round medians / their median) above which a figure is unstable
ROUND_SPREAD_LIMIT = 0.05
N_BOOT = 2000


@dataclass(frozen=True)
class Groups:
    """What the hierarchical statistics need of a measured configuration."""

    samples_ms: tuple[float, ...]
    round_p50_ms: tuple[float, ...] = ()
    round_ids: tuple[str, ...] = ()
    process_p50_ms: tuple[float, ...] = ()

    @classmethod
    def of(cls, measured: Any) -> Groups:
        """From a `Result` (its metrics) or anything with the same attributes (a report row)."""
        metrics = getattr(measured, "metrics", measured)
        return cls(tuple(measured.samples_ms), tuple(getattr(metrics, "round_p50_ms", ()) or ()),
                   tuple(getattr(metrics, "round_ids", ()) or ()), tuple(getattr(metrics, "process_p50_ms", ()) or ()))

    @property
    def medians(self) -> tuple[float, ...]:
        """The group medians: per round when measured in rounds, else per process (one process:
        nothing above the sample level is known, and this is empty)."""
        if len(self.round_p50_ms) >= 2:
            return self.round_p50_ms
        return self.process_p50_ms if len(self.process_p50_ms) >= 2 else ()


def _bootstrap_median(values: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT) -> np.ndarray:
    if values.size > 2000:
        # Only the pooled-sample fallback gets here; a subsample keeps memory bounded.
        values = rng.choice(values, 2000, replace=False)
    picks = rng.integers(0, values.size, size=(n_boot, values.size))
    return np.median(values[picks], axis=1)


def group_ci(groups: Groups, confidence: float = 0.95) -> tuple[float, float, float]:
    """(median, low, high) of a configuration: the median of its group medians with their
    distribution-free CI (the range below 6 groups: honest about knowing little); with no groups,
    the pooled samples' median and CI (a single process: the best there is)."""
    values = groups.medians or groups.samples_ms
    if not values:
        return math.nan, math.nan, math.nan
    low, high = median_ci(values, confidence)
    return float(np.median(values)), low, high


def round_spread(groups: Groups) -> float | None:
    """IQR / median of the group medians (None with fewer than 4 groups)."""
    values = np.asarray(groups.medians, dtype=float)
    if values.size < 4 or np.median(values) <= 0:
        return None
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return float((q3 - q1) / q2)


def robust_unstable(groups: Groups, iqr_ratio: float, n: int) -> bool:
    """The stability rule: unstable when there are fewer than 5 samples, when the samples' IQR is
    over 10% of their median, or when the group medians (rounds, processes) spread by over
    `ROUND_SPREAD_LIMIT` (IQR/median). The CV is not used: one 8 ms outlier among 6 us calls
    makes CV 13 while the median is known to 1%."""
    spread = round_spread(groups)
    return n < 5 or iqr_ratio > 0.10 or (spread is not None and spread > ROUND_SPREAD_LIMIT)


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator latency, with its CI. ``paired``: from per-round ratios of
    configurations measured in the same ``rounds`` rounds; else from independent group medians
    (or pooled samples when neither side has groups)."""

    estimate: float
    low: float
    high: float
    rounds: int
    paired: bool

    @property
    def significant(self) -> bool:
        """The CI excludes 1."""
        return self.low > 1.0 or self.high < 1.0

    def describe(self) -> str:
        how = f"paired over {self.rounds} rounds" if self.paired else "unpaired"
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}] ({how})"


def paired_ratio(numerator: Groups, denominator: Groups, confidence: float = 0.95, seed: int = 0) -> Ratio | None:
    """Median of the per-round ratios of medians over the rounds both were measured in, with a
    bootstrap CI over rounds; None when they share fewer than 3 rounds."""
    den = dict(zip(denominator.round_ids, denominator.round_p50_ms))
    ratios = np.asarray([v / den[k] for k, v in zip(numerator.round_ids, numerator.round_p50_ms) if k in den and den[k] > 0], dtype=float)
    if ratios.size < 3:
        return None
    boot = _bootstrap_median(ratios, np.random.default_rng(seed))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return Ratio(float(np.median(ratios)), float(low), float(high), int(ratios.size), True)


def ratio_between(numerator: Any, denominator: Any, confidence: float = 0.95, seed: int = 0) -> Ratio:
    """The latency ratio of two measured configurations (`Result`s, report rows or `Groups`):
    paired when they share rounds, else from their group medians resampled independently, else
    from their pooled samples.

    Raises:
        ValueError: a side without samples or with a non-positive median.
    """
    a = numerator if isinstance(numerator, Groups) else Groups.of(numerator)
    b = denominator if isinstance(denominator, Groups) else Groups.of(denominator)
    paired = paired_ratio(a, b, confidence, seed)
    if paired is not None:
        return paired
    x = np.asarray(a.medians or a.samples_ms, dtype=float)
    y = np.asarray(b.medians or b.samples_ms, dtype=float)
    if x.size == 0 or y.size == 0 or np.median(y) <= 0:
        raise ValueError("a ratio needs positive medians on both sides")
    rng = np.random.default_rng(seed)
    boot = _bootstrap_median(x, rng) / _bootstrap_median(y, rng)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return Ratio(float(np.median(x) / np.median(y)), float(low), float(high), int(min(x.size, y.size)), False)

"""Statistics derived from raw latency samples.

Nothing here is stored: a result keeps its raw samples and recomputes these, so a better estimator
later applies to every old result too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["Stats", "median_ci", "UNSTABLE_THRESHOLD", "MIN_STABLE_SAMPLES"]

# A measurement whose IQR/median exceeds this is flagged unstable (shown, never hidden).
UNSTABLE_THRESHOLD = 0.10
# Fewer samples than this say nothing about the spread (no 95% CI of the median exists below 6):
# such a measurement (a call slower than the whole time budget, say) is flagged unstable too.
MIN_STABLE_SAMPLES = 5


def _log_binom_cdf_half(n: int) -> list[float]:
    """log P(Binomial(n, 1/2) <= i) for i in 0..n, computed in log space so large n is exact."""
    log_pmf = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(n + 1)]
    out, running = [], -math.inf
    for value in log_pmf:
        high, low = max(running, value), min(running, value)
        running = high + math.log1p(math.exp(low - high)) if low > -math.inf else high
        out.append(running)
    return out


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval for the median, from order statistics.

    The interval [x_(j), x_(k)] covers the true median with probability
    P(j <= Binomial(n, 1/2) < k); j is the largest rank keeping each tail at most
    (1 - confidence) / 2. For n < 6 no such interval exists at 95%, and the sample range is
    returned (which is then honest about being wide). Large n uses the normal approximation.

    Returns:
        (low, high) in the samples' unit.
    """
    data = np.sort(np.asarray(samples, dtype=float))
    n = data.size
    if n == 0:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    if n > 2000:
        z = normal_quantile(confidence)
        half = z * math.sqrt(n) / 2.0
        j = max(int(math.floor(n / 2.0 - half)), 0)
        k = min(int(math.ceil(n / 2.0 + half)), n - 1)
        return float(data[j]), float(data[k])
    cdf = _log_binom_cdf_half(n)
    log_alpha = math.log(alpha)
    # j (0-based lower rank): largest j with P(B <= j - 1) <= alpha, i.e. P(B < j) <= alpha.
    j = 0
    while j + 1 <= n and cdf[j] <= log_alpha:
        j += 1
    if j == 0:
        return float(data[0]), float(data[-1])
    return float(data[j - 1]), float(data[n - j])


def normal_quantile(confidence: float) -> float:
    """Two-sided normal critical value (1.96 for 0.95), by bisection on erf: no scipy needed."""
    target = 1.0 - (1.0 - confidence) / 2.0
    low, high = 0.0, 10.0
    for _ in range(80):
        mid = (low + high) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < target:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


@dataclass(frozen=True)
class Stats:
    """Summary statistics of latency samples (all in the samples' unit, milliseconds in ortkit)."""

    n: int
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    iqr: float
    cv: float
    ci_low: float
    ci_high: float

    @classmethod
    def from_samples(cls, samples: Sequence[float], confidence: float = 0.95) -> Stats:
        """Compute statistics from raw samples.

        Raises:
            ValueError: when there are no samples (a failure is never turned into a number).
        """
        data = np.asarray(samples, dtype=float)
        if data.size == 0:
            raise ValueError("no samples to summarise")
        q = np.percentile(data, [25, 50, 75, 90, 95, 99])
        mean = float(data.mean())
        std = float(data.std(ddof=1)) if data.size > 1 else 0.0
        low, high = median_ci(data, confidence)
        return cls(
            n=int(data.size), mean=mean, std=std, min=float(data.min()), p50=float(q[1]),
            p90=float(q[3]), p95=float(q[4]), p99=float(q[5]), max=float(data.max()),
            iqr=float(q[2] - q[0]), cv=std / mean if mean > 0 else math.nan,
            ci_low=low, ci_high=high,
        )

    @property
    def rel_ci(self) -> float:
        """Half-width of the median's confidence interval relative to the median."""
        if self.p50 <= 0 or math.isnan(self.ci_low):
            return math.inf
        return max(self.p50 - self.ci_low, self.ci_high - self.p50) / self.p50

    @property
    def iqr_ratio(self) -> float:
        return self.iqr / self.p50 if self.p50 > 0 else math.inf

    @property
    def unstable(self) -> bool:
        """True when the spread is too wide to trust the median as a single figure, or when there
        are too few samples (fewer than `MIN_STABLE_SAMPLES`) to know the spread at all."""
        # Robust measures only: the CV is driven by a few outliers (one 8 ms sample among 6 us
        # calls gives CV 13) and then flags nearly everything; the IQR is not moved by them.
        return bool(self.n < MIN_STABLE_SAMPLES or self.iqr_ratio > UNSTABLE_THRESHOLD)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(rel_ci=self.rel_ci, iqr_ratio=self.iqr_ratio, unstable=self.unstable)
        return data

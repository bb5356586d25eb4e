"""The numbers behind the report's findings: pure functions on plain numbers.

Everything here takes lists or arrays of floats and returns small frozen records, so each function
can be tested with synthetic data whose answer is known. No scipy: the few distributions needed
(Student's t, the normal) are computed from the standard library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ortkit.profiler import normal_quantile

__all__ = [
    "ScalingFit",
    "fit_scaling",
    "Crossover",
    "find_crossover",
    "pareto_front",
    "RatioEstimate",
    "ratio_ci",
    "mann_whitney",
    "Comparison",
    "compare_samples",
    "t_quantile",
]


# -- distributions -------------------------------------------------------------------------------


def _t_two_sided_mass(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df`` (closed form: Abramowitz & Stegun 26.7.3/4)."""
    if t <= 0:
        return 0.0
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 1:
        total, term = 0.0, 1.0
        if df > 1:
            total = term = 1.0
            for k in range(1, (df - 3) // 2 + 1):
                term *= c * c * (2 * k) / (2 * k + 1)
                total += term
            total *= s * c
        return min(1.0, (2.0 / math.pi) * (theta + total))
    total = term = 1.0
    for k in range(1, (df - 2) // 2 + 1):
        term *= c * c * (2 * k - 1) / (2 * k)
        total += term
    return min(1.0, s * total)


def t_quantile(confidence: float, df: int) -> float:
    """The two-sided critical value of Student's t: P(|T| <= q) = confidence.

    Args:
        confidence: e.g. 0.95.
        df: degrees of freedom (>= 1); above 1000 the normal quantile is used.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df > 1000:
        return normal_quantile(confidence)
    low, high = 0.0, 1.0
    while _t_two_sided_mass(high, df) < confidence:
        high *= 2.0
    for _ in range(100):
        mid = (low + high) / 2.0
        if _t_two_sided_mass(mid, df) < confidence:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


# -- scaling -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingFit:
    """latency = coefficient * T ** exponent, fitted by least squares on log-log axes.

    ``ci_low``/``ci_high`` bound the exponent (Student's t on the slope's standard error); with two
    points there is no error estimate and they are NaN. ``r2`` is the fit's coefficient of
    determination in log space.
    """

    exponent: float
    ci_low: float
    ci_high: float
    coefficient: float
    r2: float
    n: int

    def predict(self, time: float) -> float:
        return self.coefficient * time**self.exponent

    def describe(self) -> str:
        if math.isnan(self.ci_low):
            return f"latency ~ T^{self.exponent:.2f} (2 points, no interval)"
        return f"latency ~ T^{self.exponent:.2f} (95% CI {self.ci_low:.2f} to {self.ci_high:.2f})"


def fit_scaling(times: Sequence[float], latencies: Sequence[float], confidence: float = 0.95) -> ScalingFit | None:
    """Fit the scaling exponent of latency against sequence length.

    Args:
        times: sequence lengths (> 0); repeated lengths are allowed.
        latencies: one latency per length (> 0), e.g. medians.
        confidence: level of the exponent's interval.

    Returns:
        The fit, or None when fewer than two distinct lengths with positive latency are given
        (no slope can be estimated, and none is invented).
    """
    t = np.asarray(times, dtype=float)
    y = np.asarray(latencies, dtype=float)
    keep = np.isfinite(t) & np.isfinite(y) & (t > 0) & (y > 0)
    t, y = t[keep], y[keep]
    if t.size < 2 or np.unique(t).size < 2:
        return None
    x, z = np.log(t), np.log(y)
    x_mean, z_mean = x.mean(), z.mean()
    sxx = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (z - z_mean)).sum() / sxx)
    intercept = float(z_mean - slope * x_mean)
    residuals = z - (intercept + slope * x)
    ss_res = float((residuals**2).sum())
    ss_tot = float(((z - z_mean) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    n = int(t.size)
    if n > 2:
        se = math.sqrt(ss_res / (n - 2) / sxx)
        half = t_quantile(confidence, n - 2) * se
        low, high = slope - half, slope + half
    else:
        low = high = math.nan
    return ScalingFit(exponent=slope, ci_low=low, ci_high=high, coefficient=math.exp(intercept), r2=r2, n=n)


# -- crossover -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crossover:
    """Where the CNN's latency curve goes below the RNN's.

    ``kind`` is one of:
      - ``"crossover"``: the CNN is slower at the shortest measured length and faster at a longer
        one; ``time`` is the interpolated length (log-log linear between the two measured points
        that bracket the sign change).
      - ``"cnn-faster"``: the CNN is already faster (or equal) at the shortest measured length.
      - ``"none"``: no crossover in the measured range (the CNN is slower everywhere).
      - ``"insufficient"``: fewer than two common lengths were measured.
    ``recrossings`` counts later sign changes back and forth (noise or a real second crossing).
    """

    kind: str
    time: float | None
    lower: float | None
    upper: float | None
    measured: tuple[float, ...]
    recrossings: int = 0

    def describe(self, cnn: str = "the CNN", rnn: str = "the RNN") -> str:
        span = f"T = {_fmt_t(self.measured[0])} to {_fmt_t(self.measured[-1])}" if self.measured else ""
        if self.kind == "crossover":
            text = (
                f"{cnn} becomes faster than {rnn} at T ~ {self.time:.0f} (interpolated between "
                f"measured T = {_fmt_t(self.lower)} and T = {_fmt_t(self.upper)})"
            )
        elif self.kind == "cnn-faster":
            text = f"{cnn} is already faster than {rnn} at the shortest measured length (no crossover in {span}; {cnn} leads throughout)"
        elif self.kind == "none":
            text = f"no crossover in the measured range ({span}): {rnn} stays faster than {cnn}"
        else:
            return f"not enough common sequence lengths measured to compare {cnn} with {rnn}"
        if self.recrossings:
            text += f"; the curves cross {self.recrossings} more time(s) later, so the ordering is not monotone"
        return text


def _fmt_t(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def find_crossover(times: Sequence[float], cnn_latency: Sequence[float], rnn_latency: Sequence[float]) -> Crossover:
    """Find the sequence length at which the CNN's latency drops below the RNN's.

    Args:
        times: the measured sequence lengths (both curves measured at each).
        cnn_latency, rnn_latency: latencies at those lengths (any unit, the same for both).

    Returns:
        A `Crossover`; the crossing length is interpolated linearly in log(latency ratio) against
        log(T) between the last length where the CNN is slower and the next where it is not.
    """
    t = np.asarray(times, dtype=float)
    cnn = np.asarray(cnn_latency, dtype=float)
    rnn = np.asarray(rnn_latency, dtype=float)
    keep = np.isfinite(t) & np.isfinite(cnn) & np.isfinite(rnn) & (t > 0) & (cnn > 0) & (rnn > 0)
    order = np.argsort(t[keep], kind="stable")
    t, cnn, rnn = t[keep][order], cnn[keep][order], rnn[keep][order]
    measured = tuple(float(v) for v in t)
    if t.size < 2:
        return Crossover("insufficient", None, None, None, measured)
    gap = np.log(cnn) - np.log(rnn)  # > 0: the CNN is slower
    slower = gap > 0
    changes = int(np.count_nonzero(slower[1:] != slower[:-1]))
    if not slower[0]:
        return Crossover("cnn-faster", None, None, None, measured, recrossings=changes)
    index = int(np.argmax(~slower)) if (~slower).any() else -1
    if index < 0:
        return Crossover("none", None, None, None, measured)
    i, j = index - 1, index
    x0, x1 = math.log(t[i]), math.log(t[j])
    fraction = gap[i] / (gap[i] - gap[j])
    time = math.exp(x0 + fraction * (x1 - x0))
    return Crossover("crossover", time, float(t[i]), float(t[j]), measured, recrossings=changes - 1)


@dataclass(frozen=True)
class RatioCrossover:
    """Where the CNN/RNN latency ratio curve (paired per T) crosses 1, with its uncertainty.

    ``kind``: ``"crossover"`` (``time`` where the ratio's estimate crosses 1; ``low``/``high``
    where the upper and lower CI bounds cross it, the crossover's CI), ``"not-resolved"`` (the CI
    spans 1 between T = ``low`` and ``high`` and no crossing of both bounds is measured),
    ``"cnn-faster"`` (the CI is below 1 at every T), ``"none"`` (above 1 at every T) or
    ``"insufficient"`` (fewer than two lengths).
    """

    kind: str
    time: float | None
    low: float | None
    high: float | None
    measured: tuple[float, ...]

    def describe(self, cnn: str = "the CNN", rnn: str = "the RNN") -> str:
        span = f"T = {_fmt_t(self.measured[0])} to {_fmt_t(self.measured[-1])}" if self.measured else ""
        if self.kind == "crossover":
            return (f"{cnn} becomes faster than {rnn} at T ~ {self.time:.0f} (95% CI T = {self.low:.0f} to {self.high:.0f}, "
                    "from the paired latency ratio)")
        if self.kind == "not-resolved":
            where = f" (the estimate crosses 1 at T ~ {self.time:.0f})" if self.time is not None else ""
            return f"crossover of {cnn} and {rnn} not resolved: the ratio's CI spans 1 between T = {_fmt_t(self.low)} and {_fmt_t(self.high)}{where}"
        if self.kind == "cnn-faster":
            return f"{cnn} is faster than {rnn} at every measured length ({span}; the ratio's CI is below 1 throughout)"
        if self.kind == "none":
            return f"no crossover in the measured range ({span}): {rnn} stays faster than {cnn} (the ratio's CI is above 1 throughout)"
        return f"not enough common sequence lengths measured to compare {cnn} with {rnn}"


def _crossing(t: np.ndarray, values: np.ndarray) -> float | None:
    """The first T where ``values`` goes from > 1 to <= 1, interpolated in log(value) vs log(T)."""
    above = values > 1.0
    for i in range(len(t) - 1):
        if above[i] and not above[i + 1]:
            g0, g1 = math.log(values[i]), math.log(values[i + 1])
            x0, x1 = math.log(t[i]), math.log(t[i + 1])
            return math.exp(x0 + g0 / (g0 - g1) * (x1 - x0)) if g0 != g1 else float(t[i + 1])
    return None


def ratio_crossover(times: Sequence[float], ratios: Sequence[Any]) -> RatioCrossover:
    """Crossover of the CNN/RNN latency ratio (> 1: the CNN is slower) with its CI.

    Args:
        times: the measured lengths.
        ratios: an `ortkit.profiler.Ratio` (estimate, low, high) per length, CNN over RNN.
    """
    items = sorted((float(t), r) for t, r in zip(times, ratios) if t and t > 0 and r.estimate > 0 and r.low > 0)
    t = np.asarray([i[0] for i in items])
    measured = tuple(float(v) for v in t)
    if t.size < 2:
        return RatioCrossover("insufficient", None, None, None, measured)
    est = np.asarray([i[1].estimate for i in items])
    low = np.asarray([i[1].low for i in items])
    high = np.asarray([i[1].high for i in items])
    if (high < 1.0).all():
        return RatioCrossover("cnn-faster", None, None, None, measured)
    if (low > 1.0).all():
        return RatioCrossover("none", None, None, None, measured)
    point = _crossing(t, est)
    # The lower bound leaves 1 first (before it the CNN is surely slower), the upper bound last
    # (after it the CNN is surely faster): between them lies the crossover's interval.
    t_low, t_high = _crossing(t, low), _crossing(t, high)
    if point is not None and t_low is not None and t_high is not None and low[0] > 1.0 and high[-1] < 1.0:
        return RatioCrossover("crossover", point, min(t_low, point), max(t_high, point), measured)
    spans = t[(low <= 1.0) & (high >= 1.0)]
    return RatioCrossover("not-resolved", point, float(spans.min()) if spans.size else None,
                          float(spans.max()) if spans.size else None, measured)


# -- Pareto front ----------------------------------------------------------------------------------


def pareto_front(latencies: Sequence[float], scores: Sequence[float], higher_is_better: bool = True) -> list[int]:
    """Indices of the points no other point beats on both latency (lower) and score.

    A point is dominated when another is at least as good on both axes and strictly better on one.
    Points with a NaN coordinate are never on the front. The indices come sorted by latency.
    """
    lat = np.asarray(latencies, dtype=float)
    score = np.asarray(scores, dtype=float)
    if not higher_is_better:
        score = -score
    valid = [i for i in range(lat.size) if math.isfinite(lat[i]) and math.isfinite(score[i])]
    front = []
    for i in valid:
        dominated = any(
            lat[j] <= lat[i] and score[j] >= score[i] and (lat[j] < lat[i] or score[j] > score[i])
            for j in valid
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (lat[i], -score[i]))


# -- ratios and comparisons ----------------------------------------------------------------------


@dataclass(frozen=True)
class RatioEstimate:
    """median(a) / median(b) with a bootstrap percentile interval."""

    ratio: float
    low: float
    high: float
    confidence: float

    def describe(self) -> str:
        return f"{self.ratio:.2f}x (95% CI {self.low:.2f} to {self.high:.2f})"


def _bootstrap_medians(data: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    # Chunked so a 10k-sample result times 2000 resamples never needs gigabytes at once.
    out = np.empty(n_boot)
    chunk = max(1, 4_000_000 // max(data.size, 1))
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        picks = rng.integers(0, data.size, size=(stop - start, data.size))
        out[start:stop] = np.median(data[picks], axis=1)
    return out


def ratio_ci(a: Sequence[float], b: Sequence[float], confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> RatioEstimate:
    """The ratio of two medians with a bootstrap confidence interval from the raw samples.

    Each sample set is resampled independently (they come from different runs), the ratio of
    resampled medians is formed ``n_boot`` times, and the percentile interval is returned. The seed
    is fixed so a report is reproducible.

    Raises:
        ValueError: when either side has no samples or a non-positive median.
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        raise ValueError("a ratio needs samples on both sides")
    if np.median(y) <= 0:
        raise ValueError("the denominator's median must be positive")
    rng = np.random.default_rng(seed)
    ratios = _bootstrap_medians(x, n_boot, rng) / _bootstrap_medians(y, n_boot, rng)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [alpha, 1.0 - alpha])
    return RatioEstimate(float(np.median(x) / np.median(y)), float(low), float(high), confidence)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test (normal approximation with tie and continuity correction).

    Returns:
        (U of ``a``, p-value). U/(n_a n_b) estimates P(a > b) + P(a = b)/2. With both sides constant
        and equal the p-value is 1.
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        raise ValueError("the Mann-Whitney test needs samples on both sides")
    pooled = np.concatenate([x, y])
    order = np.argsort(pooled, kind="mergesort")
    ranks = np.empty(pooled.size)
    sorted_values = pooled[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    for start, count in zip(first, counts):
        ranks[order[start : start + count]] = start + (count + 1) / 2.0
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    tie_term = float(((counts**3) - counts).sum())
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return u, 1.0
    mean = n1 * n2 / 2.0
    z = (abs(u - mean) - 0.5) / math.sqrt(variance)
    p = 2.0 * (1.0 - _normal_cdf(max(z, 0.0)))
    return u, min(1.0, p)


@dataclass(frozen=True)
class Comparison:
    """A new result against a baseline: ``ratio`` = median(new) / median(base) (> 1 is slower).

    ``verdict`` is ``"regression"`` when the new result is slower by more than the threshold AND
    the difference is significant (the ratio's interval excludes 1 and Mann-Whitney p < alpha),
    ``"improvement"`` for the mirror case, else ``"unchanged"``.
    """

    ratio: float
    low: float
    high: float
    p_value: float
    verdict: str


def compare_samples(
    base: Sequence[float], new: Sequence[float], threshold: float = 0.05, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0
) -> Comparison:
    """Compare two sets of latency samples of the same configuration.

    Args:
        base: the baseline's raw samples.
        new: the candidate's raw samples.
        threshold: relative change that counts (0.05: 5% slower is a regression).
        alpha: significance level for the Mann-Whitney test; the ratio's interval is at 1 - alpha.
    """
    estimate = ratio_ci(new, base, confidence=1.0 - alpha, n_boot=n_boot, seed=seed)
    _, p = mann_whitney(new, base)
    significant = p < alpha
    if significant and estimate.low > 1.0 and estimate.ratio > 1.0 + threshold:
        verdict = "regression"
    elif significant and estimate.high < 1.0 and estimate.ratio < 1.0 / (1.0 + threshold):
        verdict = "improvement"
    else:
        verdict = "unchanged"
    return Comparison(estimate.ratio, estimate.low, estimate.high, p, verdict)


def _sign_test(ratios: Sequence[float]) -> float:
    """Two-sided exact sign test of per-round ratios against 1."""
    above = sum(1 for r in ratios if r > 1.0)
    below = sum(1 for r in ratios if r < 1.0)
    n = above + below
    if n == 0:
        return 1.0
    k = min(above, below)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def compare_groups(base: Any, new: Any, threshold: float = 0.05, alpha: float = 0.05) -> Comparison:
    """Compare two measurements of one configuration at the level where their variance is.

    With round (or process) medians on both sides, the ratio new/base and its interval come from
    those medians (paired per round when both were measured in the same rounds) and the test is
    run on them (a sign test on per-round ratios when paired, else Mann-Whitney on the group
    medians), so the variance between processes and rounds counts; samples of one process are not
    independent evidence. Without groups (one process per configuration) it falls back to
    `compare_samples` on the raw samples.
    """
    from ortkit.profiler import Groups, ratio_between

    a, b = Groups.of(base), Groups.of(new)
    if len(a.medians) < 3 or len(b.medians) < 3:
        return compare_samples(base.samples_ms, new.samples_ms, threshold=threshold, alpha=alpha)
    estimate = ratio_between(b, a, confidence=1.0 - alpha)
    if estimate.paired:
        den = dict(zip(a.round_ids, a.round_p50_ms))
        p = _sign_test([v / den[k] for k, v in zip(b.round_ids, b.round_p50_ms) if k in den and den[k] > 0])
        # With few rounds the sign test cannot reach alpha; the interval then decides alone.
        significant = estimate.significant and (p < alpha or estimate.rounds < 6)
    else:
        _, p = mann_whitney(b.medians, a.medians)
        significant = estimate.significant and p < alpha
    if significant and estimate.estimate > 1.0 + threshold:
        verdict = "regression"
    elif significant and estimate.estimate < 1.0 / (1.0 + threshold):
        verdict = "improvement"
    else:
        verdict = "unchanged"
    return Comparison(estimate.estimate, estimate.low, estimate.high, p, verdict)

"""Prometheus metrics in the text exposition format (version 0.0.4), kept in memory.

Written out rather than taken from a client library: five families, a few lines each, and no
process-global registry to clash with the host application's when the app is mounted.
"""

from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["Metrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += 1
        self.sum += value

    def lines(self, metric: str, labels: str) -> list[str]:
        out = [f'{metric}_bucket{{{labels},le="{_number(b)}"}} {c}' for b, c in zip(self.buckets, self.counts)]
        out.append(f'{metric}_bucket{{{labels},le="+Inf"}} {self.total}')
        out.append(f"{metric}_sum{{{labels}}} {self.sum!r}")
        out.append(f"{metric}_count{{{labels}}} {self.total}")
        return out


class Metrics:
    """Counters and histograms per model, safe to update from the batcher's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = defaultdict(int)
        self._latency: dict[str, _Histogram] = {}
        self._queue: dict[str, _Histogram] = {}
        self._batch: dict[str, _Histogram] = {}
        self._streams: dict[str, int] = defaultdict(int)

    def request(self, model: str, code: int, seconds: float | None = None) -> None:
        with self._lock:
            self._requests[(model, str(code))] += 1
            if seconds is not None:
                self._latency.setdefault(model, _Histogram(_LATENCY_BUCKETS)).observe(seconds)

    def queued(self, model: str, seconds: float) -> None:
        with self._lock:
            self._queue.setdefault(model, _Histogram(_LATENCY_BUCKETS)).observe(seconds)

    def batch(self, model: str, rows: int) -> None:
        with self._lock:
            self._batch.setdefault(model, _Histogram(_BATCH_BUCKETS)).observe(rows)

    def streams(self, model: str, delta: int) -> None:
        with self._lock:
            self._streams[model] += delta

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP ortkit_requests_total Inference requests by model and HTTP status.",
                "# TYPE ortkit_requests_total counter",
                *(f'ortkit_requests_total{{model="{m}",code="{c}"}} {n}' for (m, c), n in sorted(self._requests.items())),
                "# HELP ortkit_request_errors_total Inference requests answered with an error status.",
                "# TYPE ortkit_request_errors_total counter",
                *(f'ortkit_request_errors_total{{model="{m}"}} {n}' for m, n in sorted(self._errors().items())),
                "# HELP ortkit_request_seconds Time from receiving a request to its response.",
                "# TYPE ortkit_request_seconds histogram",
                *(line for m, h in sorted(self._latency.items()) for line in h.lines("ortkit_request_seconds", f'model="{m}"')),
                "# HELP ortkit_queue_seconds Time a request waited for a free instance.",
                "# TYPE ortkit_queue_seconds histogram",
                *(line for m, h in sorted(self._queue.items()) for line in h.lines("ortkit_queue_seconds", f'model="{m}"')),
                "# HELP ortkit_batch_rows Rows (batch size) of each run.",
                "# TYPE ortkit_batch_rows histogram",
                *(line for m, h in sorted(self._batch.items()) for line in h.lines("ortkit_batch_rows", f'model="{m}"')),
                "# HELP ortkit_streams Streaming sessions open.",
                "# TYPE ortkit_streams gauge",
                *(f'ortkit_streams{{model="{m}"}} {n}' for m, n in sorted(self._streams.items())),
            ]
        return "\n".join(lines) + "\n"

    def _errors(self) -> dict[str, int]:
        errors: dict[str, int] = defaultdict(int)
        for (model, code), n in self._requests.items():
            if not code.startswith("2"):
                errors[model] += n
        return errors


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value)) if value >= 1 else repr(float(value))

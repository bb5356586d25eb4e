"""The records parent and worker exchange: the request a worker runs, the run one worker process
returns, and the measurement pooled from several processes.

They cross the process boundary as JSON (``to_dict`` / ``from_dict``), each with a ``schema``
number: a worker of another ortkit version (a target environment) that writes a newer schema is a
clear failure, never a silently misread number. Derived figures (p50, throughput, GFLOP/s, CI)
are not in a process run: `PooledRun.to_result` computes them once, from the pooled samples, so
every view of the result agrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from ortkit.profiler._environment import Environment
from ortkit.profiler._result import STATUSES, Metrics, Result, derive
from ortkit.profiler._spec import Budget, ProfileSpec

__all__ = ["RECORD_SCHEMA", "WorkerRequest", "ProcessRun", "PooledRun"]

#: version of the request and run records; a reader refuses newer ones
RECORD_SCHEMA = 1


def _check_schema(data: Mapping[str, Any], what: str) -> None:
    version = data.get("schema", RECORD_SCHEMA)
    if not isinstance(version, int) or version > RECORD_SCHEMA:
        raise ValueError(f"{what} of schema {version!r}; this ortkit reads up to {RECORD_SCHEMA} (install the same ortkit in the worker's environment)")


@dataclass(frozen=True)
class WorkerRequest:
    """What one worker process measures: a configuration and the budget to measure it with."""

    spec: ProfileSpec
    budget: Budget = field(default_factory=Budget)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": RECORD_SCHEMA, "spec": self.spec.to_dict(), "budget": self.budget.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerRequest:
        """Raises ValueError (newer schema) or the spec's own errors (bad values)."""
        _check_schema(data, "worker request")
        return cls(spec=ProfileSpec.from_dict(dict(data["spec"])), budget=Budget.from_dict(dict(data.get("budget") or {})))


@dataclass(frozen=True)
class ProcessRun:
    """What ONE worker process measured: its raw samples (one call each, milliseconds), its
    warm-up calls, its own metrics (memory, session creation, FLOPs of one call; no derived
    throughput), the environment it ran in, and how the process ended.

    ``status``: ``ok`` (samples present), ``skipped``, ``unavailable`` or ``failed`` (``error``
    says why; ``exit_code`` / ``signal`` when the process died or hung).
    """

    status: str
    samples_ms: tuple[float, ...] = ()
    warmup_ms: tuple[float, ...] = ()
    metrics: Metrics = field(default_factory=Metrics)
    environment: Environment | None = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    op_profile: dict[str, Any] | None = None
    exit_code: int | None = None
    signal: str | None = None
    wall_s: float | None = None

    @classmethod
    def failed(cls, error: str, **kw: Any) -> ProcessRun:
        return cls(status="failed", error=error, **kw)

    def checked(self) -> ProcessRun:
        """This run, or a ``failed`` one when what it reports cannot be a measurement: an unknown
        status, success without samples, a non-finite or negative latency (a clock that went
        backwards: never stored as a number)."""
        if self.status not in STATUSES:
            return replace(self, status="failed", samples_ms=(), error=f"worker reported an unknown status {self.status!r}")
        if self.status != "ok":
            return replace(self, samples_ms=())
        if not self.samples_ms:
            return replace(self, status="failed", error="worker reported success without samples")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0 for x in self.samples_ms):
            return replace(self, status="failed", samples_ms=(), error="worker reported non-finite or negative latencies")
        return self

    @property
    def p50_ms(self) -> float:
        return float(np.median(self.samples_ms)) if self.samples_ms else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": RECORD_SCHEMA, "status": self.status, "samples_ms": list(self.samples_ms),
            "warmup_ms": list(self.warmup_ms), "metrics": self.metrics.to_dict(),
            "environment": self.environment.to_dict() if self.environment else None, "error": self.error,
            "error_type": self.error_type, "traceback": self.traceback, "op_profile": self.op_profile,
            "exit_code": self.exit_code, "signal": self.signal, "wall_s": self.wall_s,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ProcessRun:
        """A run read back from a worker's JSON; anything unreadable becomes a ``failed`` run
        saying what was wrong (a worker's output is never trusted to be well-formed)."""
        if not isinstance(data, Mapping):
            return cls.failed(f"worker wrote {type(data).__name__}, not a result record")
        try:
            _check_schema(data, "worker result")
            env = data.get("environment")
            return cls(
                status=str(data.get("status", "failed")),
                samples_ms=tuple(float(x) for x in data.get("samples_ms") or ()),
                warmup_ms=tuple(float(x) for x in data.get("warmup_ms") or ()),
                metrics=Metrics.from_dict(dict(data.get("metrics") or {})),
                environment=Environment.from_dict(env) if isinstance(env, Mapping) else None,
                error=data.get("error"), error_type=data.get("error_type"), traceback=data.get("traceback"),
                op_profile=data.get("op_profile") if isinstance(data.get("op_profile"), dict) else None,
                exit_code=data.get("exit_code"), signal=data.get("signal"), wall_s=data.get("wall_s"),
            ).checked()
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            return cls.failed(f"worker wrote an unreadable result: {type(error).__name__}: {error}")


@dataclass(frozen=True)
class PooledRun:
    """The runs of several worker processes that measured the same configuration, in run order.

    A process brings its own memory layout and thread placement, which moves a median by a few
    percent; pooling the samples of a few processes (as pyperf does) makes the figure
    reproducible. Each process's median stays available (`process_p50_ms`).
    """

    runs: tuple[ProcessRun, ...]

    @classmethod
    def pool(cls, runs: Sequence[ProcessRun]) -> PooledRun:
        if not runs:
            raise ValueError("no process runs to pool")
        return cls(tuple(run.checked() for run in runs))

    @property
    def failure(self) -> ProcessRun | None:
        """The first run that did not measure (its status and message stand for all: a failure
        is never averaged into a number)."""
        return next((run for run in self.runs if run.status != "ok"), None)

    @property
    def samples_ms(self) -> tuple[float, ...]:
        return () if self.failure else tuple(x for run in self.runs for x in run.samples_ms)

    @property
    def process_p50_ms(self) -> tuple[float, ...]:
        return tuple(run.p50_ms for run in self.runs if run.status == "ok")

    def metrics(self, spec: ProfileSpec) -> Metrics:
        """The first process's metrics (session, memory, FLOPs), with every derived figure
        recomputed ONCE from the pooled samples and the process-level facts of all runs."""
        first = self.failure or self.runs[0]
        base = replace(first.metrics, warmup_ms=first.warmup_ms, process_p50_ms=self.process_p50_ms,
                       exit_code=first.exit_code, signal=first.signal,
                       wall_s=sum(r.wall_s for r in self.runs if r.wall_s is not None) or first.wall_s)
        calls = [r.metrics.concurrency_calls for r in self.runs]
        walls = [r.metrics.concurrency_wall_s for r in self.runs]
        if self.failure is None and all(calls) and all(walls):
            # Processes run one after another: the pooled rate is all calls over all the time.
            base = replace(base, concurrency_calls=sum(calls), concurrency_wall_s=sum(walls))  # type: ignore[arg-type]
        return derive(spec, self.samples_ms, base)

    def to_result(self, spec: ProfileSpec, environment: Environment, budget: Budget) -> Result:
        """The stored result of this configuration in ``environment``."""
        run = self.failure or self.runs[0]
        return Result(
            spec=spec, environment=environment, status=run.status, samples_ms=self.samples_ms,
            message=run.error, metrics=self.metrics(spec), budget=budget, op_profile=run.op_profile,
        )

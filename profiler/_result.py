"""The result of one configuration: its raw samples, its metrics, and the figures derived from them.

`derive` is the ONE place where throughput and GFLOP/s come from a latency: the sweep (pooling the
samples of every worker process), the store's migration of old rows and the report all call it,
so the table, the JSON, the store and the report show the same figure.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Sequence

from ortkit.profiler._environment import Environment
from ortkit.profiler._spec import Budget, ProfileSpec
from ortkit.profiler._stats import Stats

__all__ = ["Metrics", "Result", "STATUSES", "DONE_STATUSES", "derive", "throughput"]

STATUSES = ("ok", "failed", "skipped", "unavailable")
# Statuses a resumed sweep does not redo. A failure (crash, hang, exception) is tried again.
DONE_STATUSES = ("ok", "skipped", "unavailable")


def throughput(spec: ProfileSpec, p50_ms: float) -> tuple[float | None, float | None]:
    """(samples/s, time steps/s) of one client at the median latency ``p50_ms``.

    A streaming spec processes ``chunk`` steps per call, an offline one ``time``; a model without
    a time axis has no time-step rate (None).
    """
    if not (math.isfinite(p50_ms) and p50_ms > 0):
        return None, None
    per_s = 1e3 / p50_ms
    steps = spec.chunk or spec.time
    return spec.batch * per_s, (spec.batch * steps * per_s if steps is not None else None)


@dataclass(frozen=True)
class Metrics:
    """Everything measured about one configuration besides the latency samples.

    Times in milliseconds, memory in bytes, throughput per second. None: not measured here (no
    NVML, no FLOP counter, not a sequence model...).
    """

    session_create_ms: float | None = None
    first_run_ms: float | None = None
    throughput_samples_s: float | None = None
    throughput_timesteps_s: float | None = None
    concurrency_throughput_samples_s: float | None = None
    concurrency_throughput_timesteps_s: float | None = None
    concurrency_calls: int | None = None
    concurrency_wall_s: float | None = None
    peak_rss_bytes: int | None = None
    rss_growth_bytes: int | None = None  # RSS after timing minus RSS before the session (current, not peak)
    # RSS of the bare worker (numpy, onnx and onnxruntime imported, no model loaded): peak_rss_bytes
    # minus this is what the model itself costs (session, weights, arena, inputs and outputs)
    baseline_rss_bytes: int | None = None
    gpu_memory_bytes: int | None = None
    model_size_bytes: int | None = None
    flops: int | None = None
    flops_per_op_type: tuple[tuple[str, int], ...] = ()
    uncounted_ops: tuple[str, ...] = ()
    flops_note: str | None = None
    gflops_s: float | None = None
    active_providers: tuple[str, ...] = ()
    node_assignment: tuple[tuple[str, int], ...] = ()
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    stop_reason: str | None = None
    warmup_ms: tuple[float, ...] = ()
    process_p50_ms: tuple[float, ...] = ()
    exit_code: int | None = None
    signal: str | None = None
    wall_s: float | None = None
    # Interleaved mode: the median of each round's slice and the round's id ("<sweep>:<n>"), so
    # two configurations measured in the same rounds are compared round by round.
    round_p50_ms: tuple[float, ...] = ()
    round_ids: tuple[str, ...] = ()
    loop_calls: int | None = None
    cpu_cores: tuple[int, ...] = ()
    # The noise seen while measuring (`ortkit.profiler.NoiseWindow`): load, steal share, governor.
    load_1m: float | None = None
    cpu_steal: float | None = None
    busy_processes: int | None = None
    governor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("flops_per_op_type", "node_assignment"):
            data[name] = dict(data[name])
        data["input_shapes"] = {k: list(v) for k, v in data["input_shapes"]}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("flops_per_op_type", "node_assignment"):
            values[name] = tuple((str(k), int(v)) for k, v in dict(values.get(name) or {}).items())
        values["input_shapes"] = tuple((str(k), tuple(int(x) for x in v)) for k, v in dict(values.get("input_shapes") or {}).items())
        for name in ("uncounted_ops", "active_providers", "warmup_ms", "process_p50_ms", "round_p50_ms", "round_ids", "cpu_cores"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)


def derive(spec: ProfileSpec, samples_ms: Sequence[float], metrics: Metrics) -> Metrics:
    """``metrics`` with every figure that follows from the latency recomputed from ``samples_ms``
    (the pooled samples of all processes): throughput in samples/s and time steps/s, the rate under
    concurrency, GFLOP/s. Nothing else changes."""
    if not samples_ms:
        return replace(metrics, throughput_samples_s=None, throughput_timesteps_s=None, gflops_s=None)
    samples_s, steps_s = throughput(spec, Stats.from_samples(samples_ms).p50)
    conc_samples, conc_steps = metrics.concurrency_throughput_samples_s, metrics.concurrency_throughput_timesteps_s
    if metrics.concurrency_calls and metrics.concurrency_wall_s:
        calls_s = metrics.concurrency_calls / metrics.concurrency_wall_s
        steps = spec.chunk or spec.time
        conc_samples = calls_s * spec.batch
        conc_steps = conc_samples * steps if steps is not None else None
    if spec.concurrency > 1 and conc_samples is not None:
        # Under load, batch / median latency is ONE client's rate; the configuration's throughput
        # is what all clients completed together.
        samples_s, steps_s = conc_samples, conc_steps
    # FLOPs of one call x calls per second (all clients together under concurrency).
    gflops = metrics.flops * samples_s / spec.batch / 1e9 if metrics.flops and samples_s else None
    return replace(
        metrics, throughput_samples_s=samples_s, throughput_timesteps_s=steps_s, gflops_s=gflops,
        concurrency_throughput_samples_s=conc_samples, concurrency_throughput_timesteps_s=conc_steps,
    )


@dataclass(frozen=True)
class Result:
    """One configuration's outcome in one environment.

    ``status``: ``ok`` (samples present), ``failed`` (raised, crashed or hung: ``message`` says
    how), ``skipped`` (the EP is not usable there) or ``unavailable`` (a baseline that cannot run
    there). Statistics are derived from the raw ``samples_ms`` (one call each; for streaming, one
    chunk; for concurrency > 1, one request under load).
    """

    spec: ProfileSpec
    environment: Environment
    status: str
    samples_ms: tuple[float, ...] = ()
    message: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    budget: Budget = field(default_factory=Budget)
    op_profile: dict[str, Any] | None = None
    created_at: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown result status {self.status!r}")
        if self.status == "ok" and not self.samples_ms:
            raise ValueError("an ok result needs samples")
        for value in self.samples_ms:
            # A latency is a finite, non-negative number of milliseconds; anything else is a bug or
            # a damaged file, never a figure to summarise.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"invalid latency sample {value!r}")

    @property
    def key(self) -> str:
        return self.spec.key(self.environment.key)

    @property
    def environment_key(self) -> str:
        return self.environment.key

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def process_p50_ms(self) -> tuple[float, ...]:
        """The median of each worker process that measured this configuration, in run order
        (their spread is the between-process variance the pooled samples hide)."""
        return self.metrics.process_p50_ms

    @property
    def unstable(self) -> bool:
        """The stability rule of `ortkit.profiler.robust_unstable` (robust spread of the samples
        and of the round or process medians); False for a result without samples."""
        from ortkit.profiler._paired import Groups, robust_unstable

        stats = self.stats
        return stats is not None and robust_unstable(Groups.of(self), stats.iqr_ratio, stats.n)

    @property
    def stats(self) -> Stats | None:
        """Statistics of the samples; None when there are none (a failure is never a number)."""
        return Stats.from_samples(self.samples_ms) if self.samples_ms else None

    def to_dict(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "key": self.key, "status": self.status, "message": self.message,
            "spec": self.spec.to_dict(), "environment_key": self.environment.key,
            "stats": stats.to_dict() if stats else None, "metrics": self.metrics.to_dict(),
            "budget": self.budget.to_dict(), "op_profile": self.op_profile,
            "samples_ms": list(self.samples_ms), "created_at": self.created_at,
        }



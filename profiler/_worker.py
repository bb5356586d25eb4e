"""Measure ONE configuration in this (fresh) process and write its `ProcessRun` as JSON.

    python -m ortkit.profiler._worker --spec REQUEST.json --out RUN.json
    python -m ortkit.profiler._worker --environment        # print this interpreter's Environment

The request is a `WorkerRequest` record (from ``--spec`` or stdin), the answer a `ProcessRun`
record. The ORT path imports only numpy, onnx, onnxruntime and ortkit.runtime, so it runs in a
target environment (onnxruntime-openvino, onnxruntime-gpu) that has no torch. torch is imported
only by the PyTorch baseline (`_baseline`).

The run's ``status`` is ``ok``, ``skipped`` (the EP is not usable here: never a number measured
on another EP), ``unavailable`` (the baseline cannot run here) or ``failed`` (an exception, with
its type and message). Crashes and hangs are caught by the parent (`_isolation`).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from ortkit.profiler._engine import measure
from ortkit.profiler._limits import apply_memory_limit
from ortkit.profiler._probes import PARENT_ENV, count_flops_metrics, die_with_parent, gpu_memory_bytes, op_profile, peak_rss_bytes, rss_bytes
from ortkit.profiler._records import ProcessRun, WorkerRequest
from ortkit.profiler._result import Metrics
from ortkit.profiler._shapes import concrete_shapes, make_feeds, model_signature, model_size_bytes, streaming_states
from ortkit.profiler._spec import Budget, ProfileSpec

__all__ = ["run_request", "run_concurrent", "die_with_parent", "PARENT_ENV", "main"]


def run_concurrent(call: Callable[[], object], clients: int, duration_s: float, timer: Callable[[], float] = time.perf_counter) -> tuple[list[float], float, int]:
    """``clients`` threads calling ``call`` for ``duration_s``; per-call latencies (ms), wall time
    (s) and total call count."""
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    stop_at = [0.0]

    def client(index: int) -> None:
        barrier.wait()
        own = latencies[index]
        try:
            while True:
                t0 = timer()
                call()
                t1 = timer()
                own.append((t1 - t0) * 1e3)
                if t1 >= stop_at[0]:
                    return
        except BaseException as error:  # noqa: BLE001 - re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start = timer()
    stop_at[0] = start + duration_s
    barrier.wait()
    for thread in threads:
        thread.join()
    wall = timer() - start
    if errors:
        raise errors[0]
    flat = [x for own in latencies for x in own]
    return flat, wall, len(flat)


def _open_session(spec: ProfileSpec, metrics: dict[str, Any]) -> tuple[Any, ProcessRun | None]:
    """The wrapper's session for ``spec``, or a ``skipped`` run when the EP asked for is not the
    one running (unavailable, or it took no node): never a number measured on another EP."""
    from ortkit.runtime import ProviderUnavailable, Runtime, provider_name

    t0 = time.perf_counter()
    try:
        rt = Runtime(
            # The parent checked the thread count against its limit (or the caller's max_threads).
            spec.model, providers=spec.ep, threads=spec.threads, max_threads=spec.threads, optimization=spec.optimization,
            ep_options={spec.ep: dict(spec.ep_options)} if spec.ep_options else None,
            ep_library=dict(spec.ep_library) or None,
        )
    except ProviderUnavailable as error:
        return None, ProcessRun(status="skipped", error=str(error), metrics=Metrics.from_dict(metrics))
    metrics["session_create_ms"] = (time.perf_counter() - t0) * 1e3
    active = list(rt.providers)
    assignment = {str(k): int(v) for k, v in dict(getattr(rt, "node_assignment", {}) or {}).items()}
    metrics["active_providers"] = active
    metrics["node_assignment"] = assignment
    wanted = provider_name(spec.ep)
    reason = None
    if wanted is not None and (not active or active[0] != wanted):
        reason = f"{spec.ep} was asked for but the session runs on {', '.join(active) or 'nothing'}"
    elif wanted is not None and wanted != "CPUExecutionProvider" and assignment and assignment.get(wanted, 0) == 0:
        reason = f"{spec.ep} took no node of this model (all ran on {', '.join(assignment)})"
    if reason is not None:
        return None, ProcessRun(status="skipped", error=reason, metrics=Metrics.from_dict(metrics))
    return rt, None


def _call(rt: Any, feeds: dict[str, Any], state_inputs: dict[str, str]) -> Callable[[], object]:
    """The timed call: the wrapper's own run, what an application embedding ortkit.runtime pays
    (its C++ fast path on the CPU, I/O binding on device EPs); it costs no more than a bare
    session.run (benchmarks/profiler_trust.py checks that). A streaming export carries its state
    from one chunk to the next."""
    if not state_inputs:
        return lambda: rt.run(feeds)
    carried = dict(feeds)

    def call() -> object:
        result = rt.run(carried)
        for inp, out in state_inputs.items():
            carried[inp] = result[out]
        return result

    return call


def _time(call: Callable[[], object], spec: ProfileSpec, budget: Budget, metrics: dict[str, Any]) -> tuple[list[float], tuple[float, ...]]:
    """(samples, warm-up samples). Under concurrency the calls and wall time are recorded, so the
    parent derives the rate of all clients together (over all processes)."""
    if spec.concurrency > 1:
        measure(call, Budget(warmup_runs=budget.warmup_runs, warmup_time_s=budget.warmup_time_s, min_runs=1, max_runs=1, max_time_s=1.0))
        samples, wall, calls = run_concurrent(call, spec.concurrency, budget.concurrency_time_s)
        metrics.update(stop_reason="concurrency", concurrency_calls=calls, concurrency_wall_s=wall)
        return samples, ()
    m = measure(call, budget)
    metrics["stop_reason"] = m.stop_reason
    return list(m.samples_ms), m.warmup_ms


def _ort(spec: ProfileSpec, budget: Budget) -> ProcessRun:
    import onnx

    sigs, _ = model_signature(spec.model)
    states = streaming_states(onnx.load(spec.model, load_external_data=False))
    # The initial state of a streaming export is zeros; it is carried only when streaming chunks.
    state_inputs = {s["input"]: s["output"] for s in states}
    shapes = concrete_shapes(spec.model, sigs, spec.batch, spec.chunk or spec.time)
    feeds = make_feeds(sigs, shapes, zero=set(state_inputs))
    metrics: dict[str, Any] = {"input_shapes": {k: list(v) for k, v in shapes.items()}, "model_size_bytes": model_size_bytes(spec.model)}
    rss0 = rss_bytes()
    rt, skipped = _open_session(spec, metrics)
    if skipped is not None:
        return skipped
    # One validated call through the wrapper: a shape or dtype the model cannot take fails here,
    # with the runtime's clear message, before anything is timed.
    t0 = time.perf_counter()
    rt.run(feeds)
    metrics["first_run_ms"] = (time.perf_counter() - t0) * 1e3
    samples, warmup = _time(_call(rt, feeds, state_inputs if spec.chunk else {}), spec, budget, metrics)
    metrics.update(count_flops_metrics(rt.model, shapes))
    rss1 = rss_bytes()
    metrics["peak_rss_bytes"] = peak_rss_bytes()
    metrics["rss_growth_bytes"] = rss1 - rss0 if rss0 is not None and rss1 is not None else None
    metrics["gpu_memory_bytes"] = gpu_memory_bytes()
    profile = op_profile(spec.model, rt.session, feeds, spec.threads) if spec.op_profile else None
    return ProcessRun(status="ok", samples_ms=tuple(samples), warmup_ms=tuple(warmup), metrics=Metrics.from_dict(metrics), op_profile=profile)


def run_request(request: WorkerRequest | dict[str, Any]) -> ProcessRun:
    """Measure one configuration in this process. Exceptions become a ``failed`` run; the run
    carries this process's environment."""
    from ortkit.profiler._environment import collect_environment

    try:
        if not isinstance(request, WorkerRequest):
            request = WorkerRequest.from_dict(request)
        if request.spec.runner == "ort":
            run = _ort(request.spec, request.budget)
        else:
            from ortkit.profiler._baseline import run_torch

            run = run_torch(request.spec, request.budget)
    except Exception as error:  # noqa: BLE001 - a worker reports every failure as data
        message = str(error).splitlines()[0] if str(error) else ""
        run = ProcessRun.failed(
            f"{type(error).__name__}: {message}".rstrip(": "), error_type=type(error).__name__,
            traceback=traceback.format_exc(limit=8),
        )
    try:
        environment = collect_environment()
    except Exception:  # noqa: BLE001 - the environment describes a run; it never fails one
        environment = None
    return replace(run, environment=environment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ortkit.profiler._worker")
    parser.add_argument("--spec", help="request JSON file (default: stdin)")
    parser.add_argument("--out", help="result JSON file (default: stdout)")
    parser.add_argument("--environment", action="store_true", help="print this interpreter's environment as JSON")
    args = parser.parse_args(argv)
    die_with_parent()
    apply_memory_limit()
    if args.environment:
        from ortkit.profiler._environment import collect_environment

        payload: dict[str, Any] = collect_environment().to_dict()
        status = "ok"
    else:
        run = run_request(json.loads(Path(args.spec).read_text() if args.spec else sys.stdin.read()))
        payload, status = run.to_dict(), run.status
    text = json.dumps(payload)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 1 if status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())

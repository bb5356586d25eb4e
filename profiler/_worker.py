"""Measure ONE configuration in this (fresh) process and write its `ProcessRun` as JSON.

    python -m ortkit.profiler._worker --spec REQUEST.json --out RUN.json
    python -m ortkit.profiler._worker --environment        # print this interpreter's Environment
    python -m ortkit.profiler._worker --serve              # interleaved mode (see `serve`)

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

__all__ = ["run_request", "run_concurrent", "die_with_parent", "PARENT_ENV", "main", "serve", "pin_from_environment", "CPUS_ENV", "PROTOCOL_PREFIX"]

#: the parent names the cores a worker may use in this variable (comma-separated CPU numbers)
CPUS_ENV = "ORTKIT_WORKER_CPUS"
#: every protocol line a serving worker writes starts with this (anything else on the pipe is ignored)
PROTOCOL_PREFIX = "ORTKIT "
# A slice starts with one untimed loop (caches warm again after the protocol exchange) when a
# loop costs less than 1/REWARM_SHARE of the slice: for a 1-second call it would double the slice.
REWARM_SHARE = 10


def pin_from_environment() -> None:
    """Pin this process to the cores the parent chose, before any thread pool exists, so an
    intra-op pool of N threads gets N cores of its own instead of migrating among all of them."""
    import os

    cpus = os.environ.get(CPUS_ENV)
    if cpus and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {int(c) for c in cpus.split(",") if c.strip()})
        except (OSError, ValueError):
            pass  # a core the parent saw is gone (cgroup change): run unpinned rather than fail


def serve(stdin: Any, out: Any) -> int:
    """Interleaved mode: read a `WorkerRequest` line, prepare the configuration (session, feeds),
    warm up and calibrate, answer ``ready``; then answer each ``{"slice": SECONDS, "min_runs": N}``
    line with that slice's samples, until ``{"stop": true}``; then finish as a normal run (memory,
    FLOPs, op profile) and write ``{"final": ProcessRun}``. Every line written starts with
    `PROTOCOL_PREFIX`."""
    from ortkit.profiler._engine import Measurement, calibrate, serve_slices, time_slice

    def send(payload: dict[str, Any]) -> None:
        out.write(PROTOCOL_PREFIX + json.dumps(payload) + "\n")
        out.flush()

    loops = [1]

    def server(fn: Callable[[], object], sync: Callable[[], object] | None, budget: Budget) -> Measurement:
        begin = time.perf_counter()
        warmup, loops[0] = calibrate(fn, budget, sync=sync)
        typical_ms = float(sorted(warmup[-5:])[len(warmup[-5:]) // 2]) if warmup else 0.0
        send({"ready": True, "loops": loops[0]})
        samples: list[float] = []
        for line in stdin:
            command = json.loads(line)
            if command.get("stop"):
                break
            seconds = float(command["slice"])
            part = time_slice(fn, seconds, min_runs=int(command.get("min_runs", 3)), loops=loops[0], sync=sync,
                              rewarm=typical_ms * loops[0] * REWARM_SHARE < seconds * 1e3)
            samples.extend(part)
            send({"samples": list(part)})
        return Measurement(tuple(samples), warmup, "rounds", time.perf_counter() - begin)

    serve_slices(server)
    run = run_request(json.loads(stdin.readline()))
    run = replace(run, metrics=replace(run.metrics, loop_calls=loops[0]))
    send({"final": run.to_dict()})
    return 0


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
    from ortkit.runtime import ProviderUnavailable, Runtime, SessionSettings, provider_name

    t0 = time.perf_counter()
    try:
        rt = Runtime(
            # The parent checked the thread count against its limit (or the caller's max_threads).
            spec.model, providers=spec.ep, max_threads=spec.threads,
            settings=SessionSettings.from_extra(spec.session, spec.threads, spec.optimization),
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

    import ortkit.runtime  # noqa: F401 - numpy and onnxruntime loaded first: their memory is the bare process's
    # The bare process (interpreter, numpy, onnx, onnxruntime): the peak above it is the model's own.
    baseline = rss_bytes()
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
    metrics["baseline_rss_bytes"] = baseline
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
    parser.add_argument("--serve", action="store_true", help="interleaved mode: requests and slices on stdin")
    args = parser.parse_args(argv)
    die_with_parent()
    apply_memory_limit()
    pin_from_environment()
    if args.serve:
        import os

        # The protocol gets its own copy of stdout; fd 1 then goes to stderr, so nothing a
        # library prints can be mistaken for (or corrupt) a protocol line.
        out = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        return serve(sys.stdin, out)
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

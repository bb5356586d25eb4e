"""Measure ONE configuration in this (fresh) process and write its result as JSON.

    python -m ortkit.profiler._worker --spec SPEC.json --out RESULT.json
    python -m ortkit.profiler._worker --environment        # print this interpreter's Environment

The request is ``{"spec": ProfileSpec.to_dict(), "budget": Budget.to_dict()}`` (from ``--spec``
or stdin). The ORT path imports only numpy, onnx, onnxruntime and ortkit.runtime, so it runs in a
target environment (onnxruntime-openvino, onnxruntime-gpu) that has no torch. torch is imported
only by the PyTorch baseline runners.

The result's ``status`` is ``ok``, ``skipped`` (the EP is not usable here: never a number measured
on another EP), ``unavailable`` (the baseline cannot run here) or ``failed`` (an exception, with
its type and message). Crashes and hangs are caught by the parent (`_isolation`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ortkit.base import OrtkitError
from ortkit.profiler._engine import measure
from ortkit.profiler._shapes import concrete_shapes, make_feeds, model_signature, model_size_bytes, streaming_states
from ortkit.profiler._spec import Budget, ProfileSpec

# Set by `_isolation.run_isolated` (to its pid): this process is a worker that should die with it.
PARENT_ENV = "ORTKIT_WORKER_PARENT"

# Short EP names -> onnxruntime provider names (the names Runtime's `providers` reports).
EP_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "webgpu": "WebGpuExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "vitisai": "VitisAIExecutionProvider",
    "azure": "AzureExecutionProvider",
}


def provider_name(ep: str) -> str | None:
    """The onnxruntime provider an EP spec asks for (``"openvino:CPU"`` -> OpenVINOExecutionProvider);
    None for ``"auto"``; the spec itself for full provider or plugin names."""
    base = ep.split(":", 1)[0]
    if base == "auto":
        return None
    return EP_ALIASES.get(base.lower(), base)


# --- process metrics ------------------------------------------------------------------------

def rss_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        return None


def peak_rss_bytes() -> int | None:
    """Peak resident memory of THIS process.

    On Linux ``getrusage().ru_maxrss`` is carried over from the parent across fork and exec: a
    worker started by a CLI that has torch loaded would report the CLI's 350 MiB as its own peak.
    ``VmHWM`` (the high-water mark of this process's own address space) has no such inheritance.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if sys.platform != "darwin":
        return None  # ru_maxrss would be the parent's peak, not this worker's
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def die_with_parent() -> None:
    """Ask Linux to kill this worker when the ortkit process that started it dies (e.g. SIGKILL
    mid-sweep), so a hung worker is never left running on its own. Elsewhere a no-op."""
    if not sys.platform.startswith("linux") or not os.environ.get(PARENT_ENV):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


def gpu_memory_bytes() -> int | None:
    """GPU memory this process holds, through NVML (nvidia-ml-py); None where NVML is absent."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver
        return None
    try:
        total = 0
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == os.getpid() and proc.usedGpuMemory:
                    total += int(proc.usedGpuMemory)
        return total
    except Exception:  # noqa: BLE001 - containers often hide per-process usage
        return None
    finally:
        pynvml.nvmlShutdown()


# --- the measurement ------------------------------------------------------------------------

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


def _count_flops(model: Any, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    try:
        from ortkit.runtime import count_flops
    except ImportError:
        return {"flops": None, "flops_note": "ortkit.runtime.count_flops is not available"}
    try:
        count = count_flops(model, shapes)
    except Exception as error:  # noqa: BLE001 - FLOPs are informative; never fail a measurement for them
        return {"flops": None, "flops_note": f"FLOP counting failed: {error}"}
    return {
        "flops": int(count.total) if count.total is not None else None,
        "flops_per_op_type": {k: int(v) for k, v in dict(count.per_op_type).items()},
        "uncounted_ops": sorted(str(op) for op in count.uncounted_ops),
        # With uncounted ops the total (and so GFLOP/s) is a lower bound, never a silent zero.
        "flops_note": None if not count.uncounted_ops else "lower bound: some ops were not counted",
    }


def _op_profile(model_path: str, session: Any, feeds: dict[str, np.ndarray], threads: int | None, runs: int = 20) -> dict[str, Any]:
    """Per-op-type time shares, nodes per EP and Memcpy nodes, from onnxruntime's profiler run on
    a second session with the same providers (so profiling never slows the timed session)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="ortkit-prof-") as folder:
        options.profile_file_prefix = str(Path(folder) / "ort")
        if threads is not None:
            options.intra_op_num_threads = threads
        profiled = ort.InferenceSession(
            model_path, options, providers=session.get_providers(), provider_options=[
                session.get_provider_options().get(p, {}) for p in session.get_providers()
            ],
        )
        for _ in range(runs):
            profiled.run(None, feeds)
        events = json.loads(Path(profiled.end_profiling()).read_text())
    by_type: dict[str, float] = {}
    nodes: dict[str, set[str]] = {}
    memcpy: set[str] = set()
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        args = event.get("args", {})
        op = args.get("op_name", "?")
        node = event["name"][: -len("_kernel_time")]
        by_type[op] = by_type.get(op, 0.0) + float(event.get("dur", 0))
        nodes.setdefault(args.get("provider", "?"), set()).add(node)
        if op.startswith("Memcpy"):
            memcpy.add(node)
    total = sum(by_type.values()) or 1.0
    return {
        "runs": runs,
        "op_type_share": {k: v / total for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])},
        "op_type_us_per_run": {k: v / runs for k, v in by_type.items()},
        "nodes_per_ep": {k: len(v) for k, v in nodes.items()},
        "memcpy_nodes": len(memcpy),
    }


def _ort(spec: ProfileSpec, budget: Budget) -> dict[str, Any]:
    from ortkit.runtime import Runtime

    try:
        from ortkit.runtime import ProviderUnavailable
    except ImportError:  # pragma: no cover - the runtime always defines it
        ProviderUnavailable = OrtkitError  # type: ignore[misc,assignment]

    sigs, meta = model_signature(spec.model)
    import onnx

    states = streaming_states(onnx.load(spec.model, load_external_data=False))
    # The initial state of a streaming export is zeros; it is carried only when streaming chunks.
    state_inputs = {s["input"]: s["output"] for s in states}
    time_len = spec.chunk if spec.chunk else spec.time
    shapes = concrete_shapes(spec.model, sigs, spec.batch, time_len)
    feeds = make_feeds(sigs, shapes, zero=set(state_inputs))
    if not spec.chunk:
        state_inputs = {}
    metrics: dict[str, Any] = {"input_shapes": {k: list(v) for k, v in shapes.items()}, "model_size_bytes": model_size_bytes(spec.model)}

    rss0 = rss_bytes()
    t0 = time.perf_counter()
    try:
        rt = Runtime(
            spec.model, providers=spec.ep, threads=spec.threads, optimization=spec.optimization,
            ep_options={spec.ep: dict(spec.ep_options)} if spec.ep_options else None,
            ep_library=dict(spec.ep_library) or None,
        )
    except ProviderUnavailable as error:
        return {"status": "skipped", "error": str(error), "metrics": metrics}
    metrics["session_create_ms"] = (time.perf_counter() - t0) * 1e3
    active = list(rt.providers)
    assignment = {str(k): int(v) for k, v in dict(getattr(rt, "node_assignment", {}) or {}).items()}
    metrics["active_providers"] = active
    metrics["node_assignment"] = assignment
    wanted = provider_name(spec.ep)
    if wanted is not None and (not active or active[0] != wanted):
        return {"status": "skipped", "error": f"{spec.ep} was asked for but the session runs on {', '.join(active) or 'nothing'}", "metrics": metrics}
    if wanted is not None and wanted != "CPUExecutionProvider" and assignment and assignment.get(wanted, 0) == 0:
        return {"status": "skipped", "error": f"{spec.ep} took no node of this model (all ran on {', '.join(assignment)})", "metrics": metrics}

    # One validated call through the wrapper: a shape or dtype the model cannot take fails here,
    # with the runtime's clear message, before anything is timed.
    t0 = time.perf_counter()
    outputs = rt.run(feeds)
    metrics["first_run_ms"] = (time.perf_counter() - t0) * 1e3

    # The timed call is the wrapper's own run: what an application embedding ortkit.runtime pays
    # (its C++ fast path on the CPU, I/O binding on device EPs); it costs no more than a bare
    # session.run (benchmarks/profiler_trust.py checks that).
    if state_inputs:
        carried = dict(feeds)

        def call() -> object:
            result = rt.run(carried)
            for inp, out in state_inputs.items():
                carried[inp] = result[out]
            return result
    else:
        def call() -> object:
            return rt.run(feeds)
    del outputs

    if spec.concurrency > 1:
        measure(call, Budget(warmup_runs=budget.warmup_runs, warmup_time_s=budget.warmup_time_s, min_runs=1, max_runs=1, max_time_s=1.0))
        samples, wall, calls = run_concurrent(call, spec.concurrency, budget.concurrency_time_s)
        metrics["stop_reason"] = "concurrency"
        metrics["concurrency_throughput_samples_s"] = calls * spec.batch / wall
        if time_len is not None:
            metrics["concurrency_throughput_timesteps_s"] = calls * spec.batch * time_len / wall
        warmup: tuple[float, ...] = ()
    else:
        m = measure(call, budget)
        samples, warmup = list(m.samples_ms), m.warmup_ms
        metrics["stop_reason"] = m.stop_reason

    p50_s = float(np.median(samples)) / 1e3
    if spec.concurrency > 1:
        # Under load, batch / median latency is ONE client's rate; the configuration's throughput
        # is what all clients completed together.
        metrics["throughput_samples_s"] = metrics["concurrency_throughput_samples_s"]
        metrics["throughput_timesteps_s"] = metrics.get("concurrency_throughput_timesteps_s")
    else:
        metrics["throughput_samples_s"] = spec.batch / p50_s if p50_s > 0 else None
        if time_len is not None:
            metrics["throughput_timesteps_s"] = spec.batch * time_len / p50_s if p50_s > 0 else None
    metrics.update(_count_flops(rt.model, shapes))
    if metrics.get("flops") and metrics.get("throughput_samples_s"):
        # FLOPs of one call x calls per second (all clients together under --concurrency).
        metrics["gflops_s"] = metrics["flops"] * metrics["throughput_samples_s"] / spec.batch / 1e9
    rss1 = rss_bytes()
    metrics["peak_rss_bytes"] = peak_rss_bytes()
    metrics["rss_growth_bytes"] = rss1 - rss0 if rss0 is not None and rss1 is not None else None
    metrics["gpu_memory_bytes"] = gpu_memory_bytes()
    op_profile = None
    if spec.op_profile:
        op_profile = _op_profile(spec.model, rt.session, feeds, spec.threads)
    return {"status": "ok", "samples_ms": list(samples), "warmup_ms": list(warmup), "metrics": metrics, "op_profile": op_profile}


def _torch(spec: ProfileSpec, budget: Budget) -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"status": "unavailable", "error": "torch is not installed in this environment (pip install 'ortkit[torch]')"}
    if not spec.zoo_name:
        return {"status": "unavailable", "error": f"{spec.model_label} is not a zoo model: there is no PyTorch source to compare with"}
    from ortkit.models import create_model

    device = "cuda" if spec.ep.startswith("cuda") else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        return {"status": "skipped", "error": "torch sees no CUDA device here"}
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    module = create_model(spec.zoo_name, **dict(spec.zoo_overrides)).eval().to(device)
    model_spec = module.ortkit_spec
    metrics: dict[str, Any] = {"session_create_ms": (time.perf_counter() - t0) * 1e3, "active_providers": [f"torch:{device}"]}
    generator = torch.Generator().manual_seed(0)
    inputs = []
    for tensor in model_spec.inputs:
        shape = [spec.batch if d == "batch" else spec.time if d == "time" else int(d) for d in tensor.dims]
        if None in shape:
            return {"status": "failed", "error": f"{spec.zoo_name} input '{tensor.name}' has a time axis; give a time length"}
        dtype = getattr(torch, tensor.dtype)
        value = torch.randn(shape, generator=generator).to(dtype) if dtype.is_floating_point else torch.zeros(shape, dtype=dtype)
        inputs.append(value.to(device))
    metrics["input_shapes"] = {t.name: list(v.shape) for t, v in zip(model_spec.inputs, inputs)}
    if spec.runner == "torch-compile":
        try:
            module = torch.compile(module)
        except Exception as error:  # noqa: BLE001 - torch.compile is unsupported on some platforms
            return {"status": "unavailable", "error": f"torch.compile does not work here: {error}"}
    sync = torch.cuda.synchronize if device == "cuda" else None

    def call() -> object:
        with torch.inference_mode():
            return module(*inputs)

    t0 = time.perf_counter()
    try:
        call()
    except Exception as error:  # noqa: BLE001 - compile errors surface on the first call
        if spec.runner == "torch-compile":
            return {"status": "unavailable", "error": f"torch.compile does not work for this model here: {str(error).splitlines()[0]}"}
        raise
    if sync is not None:
        sync()
    metrics["first_run_ms"] = (time.perf_counter() - t0) * 1e3
    m = measure(call, budget, sync=sync)
    p50_s = m.stats.p50 / 1e3
    metrics["stop_reason"] = m.stop_reason
    metrics["throughput_samples_s"] = spec.batch / p50_s
    if spec.time is not None:
        metrics["throughput_timesteps_s"] = spec.batch * spec.time / p50_s
    rss1 = rss_bytes()
    metrics["peak_rss_bytes"] = peak_rss_bytes()
    metrics["rss_growth_bytes"] = rss1 - rss0 if rss0 is not None and rss1 is not None else None
    if device == "cuda":
        metrics["gpu_memory_bytes"] = int(torch.cuda.max_memory_allocated())
    return {"status": "ok", "samples_ms": list(m.samples_ms), "warmup_ms": list(m.warmup_ms), "metrics": metrics}


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    """Measure one configuration in this process. Exceptions become a ``failed`` result."""
    try:
        spec = ProfileSpec.from_dict(request["spec"])
        budget = Budget.from_dict(request.get("budget") or {})
        result = _ort(spec, budget) if spec.runner == "ort" else _torch(spec, budget)
    except Exception as error:  # noqa: BLE001 - a worker reports every failure as data
        message = str(error).splitlines()[0] if str(error) else ""
        return {
            "status": "failed", "error": f"{type(error).__name__}: {message}".rstrip(": "),
            "error_type": type(error).__name__, "traceback": traceback.format_exc(limit=8),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ortkit.profiler._worker")
    parser.add_argument("--spec", help="request JSON file (default: stdin)")
    parser.add_argument("--out", help="result JSON file (default: stdout)")
    parser.add_argument("--environment", action="store_true", help="print this interpreter's environment as JSON")
    args = parser.parse_args(argv)
    die_with_parent()
    if args.environment:
        from ortkit.profiler._environment import collect_environment

        payload: dict[str, Any] = collect_environment().to_dict()
    else:
        request = json.loads(Path(args.spec).read_text() if args.spec else sys.stdin.read())
        payload = run_request(request)
    text = json.dumps(payload)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 1 if payload.get("status") == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())

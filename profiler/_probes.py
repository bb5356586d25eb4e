"""What a worker process learns about itself and its model besides latency: memory, FLOPs and
onnxruntime's per-op profile. Each probe returns None (or a note) where the platform cannot tell,
and never fails a measurement.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PARENT_ENV", "rss_bytes", "peak_rss_bytes", "die_with_parent", "gpu_memory_bytes", "count_flops_metrics", "op_profile"]

# Set by `_isolation.run_isolated` (to its pid): this process is a worker that should die with it.
PARENT_ENV = "ORTKIT_WORKER_PARENT"



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


def count_flops_metrics(model: Any, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
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


def op_profile(model_path: str, session: Any, feeds: dict[str, np.ndarray], threads: int | None, runs: int = 20) -> dict[str, Any]:
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



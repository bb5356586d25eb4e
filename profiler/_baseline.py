"""The PyTorch baseline: the same zoo model run in torch (eager or compiled) in a worker process.

The one place in the profiler that imports torch and ortkit.models (the documented exception to
the layering); the ORT path never reaches it, so a target environment without torch measures fine.
"""

from __future__ import annotations

import time
from typing import Any

from ortkit.profiler._engine import measure
from ortkit.profiler._probes import peak_rss_bytes, rss_bytes
from ortkit.profiler._records import ProcessRun
from ortkit.profiler._result import Metrics
from ortkit.profiler._spec import Budget, ProfileSpec

__all__ = ["run_torch"]


def run_torch(spec: ProfileSpec, budget: Budget) -> ProcessRun:
    try:
        import torch
    except ImportError:
        return ProcessRun(status="unavailable", error="torch is not installed in this environment (pip install 'ortkit[torch]')")
    if not spec.zoo_name:
        return ProcessRun(status="unavailable", error=f"{spec.model_label} is not a zoo model: there is no PyTorch source to compare with")
    from ortkit.models import create_model
    from ortkit.runtime import random_feeds

    device = "cuda" if spec.ep.startswith("cuda") else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        return ProcessRun(status="skipped", error="torch sees no CUDA device here")
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    module = create_model(spec.zoo_name, **dict(spec.zoo_overrides)).eval().to(device)
    model_spec = module.ortkit_spec
    metrics: dict[str, Any] = {"session_create_ms": (time.perf_counter() - t0) * 1e3, "active_providers": [f"torch:{device}"]}
    shapes = []
    for tensor in model_spec.inputs:
        shape = [spec.batch if d == "batch" else spec.time if d == "time" else int(d) for d in tensor.dims]
        if None in shape:
            return ProcessRun.failed(f"{spec.zoo_name} input '{tensor.name}' has a time axis; give a time length")
        # Drawn as float32 (numpy has no bfloat16) and cast: the same generator and seed as the
        # ORT path's feeds; integer inputs are zeros there too.
        floating = getattr(torch, tensor.dtype).is_floating_point
        shapes.append((tensor.name, "float32" if floating else tensor.dtype, shape))
    arrays = random_feeds(shapes, seed=0, int_high=None)
    inputs = [torch.from_numpy(arrays[t.name]).to(getattr(torch, t.dtype)).to(device) for t in model_spec.inputs]
    metrics["input_shapes"] = {t.name: list(v.shape) for t, v in zip(model_spec.inputs, inputs)}
    if spec.runner == "torch-compile":
        try:
            module = torch.compile(module)
        except Exception as error:  # noqa: BLE001 - torch.compile is unsupported on some platforms
            return ProcessRun(status="unavailable", error=f"torch.compile does not work here: {error}")
    sync = torch.cuda.synchronize if device == "cuda" else None

    def call() -> object:
        with torch.inference_mode():
            return module(*inputs)

    t0 = time.perf_counter()
    try:
        call()
    except Exception as error:  # noqa: BLE001 - compile errors surface on the first call
        if spec.runner == "torch-compile":
            return ProcessRun(status="unavailable", error=f"torch.compile does not work for this model here: {str(error).splitlines()[0]}")
        raise
    if sync is not None:
        sync()
    metrics["first_run_ms"] = (time.perf_counter() - t0) * 1e3
    m = measure(call, budget, sync=sync)
    metrics["stop_reason"] = m.stop_reason
    rss1 = rss_bytes()
    metrics["peak_rss_bytes"] = peak_rss_bytes()
    metrics["rss_growth_bytes"] = rss1 - rss0 if rss0 is not None and rss1 is not None else None
    if device == "cuda":
        metrics["gpu_memory_bytes"] = int(torch.cuda.max_memory_allocated())
    return ProcessRun(status="ok", samples_ms=m.samples_ms, warmup_ms=m.warmup_ms, metrics=Metrics.from_dict(metrics))



"""The PyTorch baseline: the model's own PyTorch source run in torch (eager or compiled) in a
worker process: the zoo model an export of a zoo model records, or a user's factory.

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


def _zoo_module(spec: ProfileSpec, torch: Any) -> tuple[Any, dict[str, Any]] | ProcessRun:
    from ortkit.models import create_model
    from ortkit.runtime import random_feeds

    from ortkit.base import OrtkitError

    try:
        module = create_model(spec.zoo_name, **dict(spec.zoo_overrides))
    except OrtkitError as error:  # a name in the file's metadata that this zoo does not know
        return ProcessRun(status="unavailable", error=f"no PyTorch source for {spec.model_label}: {str(error).splitlines()[0]}")
    model_spec = module.ortkit_spec
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
    return module, {t.name: torch.from_numpy(arrays[t.name]).to(getattr(torch, t.dtype)) for t in model_spec.inputs}


def _user_module(spec: ProfileSpec, torch: Any) -> tuple[Any, dict[str, Any]] | ProcessRun:
    """The user's factory, fed the ORT path's own feeds in the export's input order (the order of
    forward()'s arguments). Its weights are the factory's: latency does not depend on their values."""
    from ortkit.base import FactoryError, import_factory
    from ortkit.profiler._shapes import concrete_shapes, make_feeds, model_signature

    try:
        module = import_factory(str(spec.baseline_source))()
    except FactoryError as error:
        return ProcessRun(status="unavailable", error=f"PyTorch source {spec.baseline_source}: {error}")
    if not isinstance(module, torch.nn.Module):
        return ProcessRun(status="unavailable", error=f"{spec.baseline_source} returned {type(module).__name__}, not a torch.nn.Module")
    sigs, _ = model_signature(spec.model)
    arrays = make_feeds(sigs, concrete_shapes(spec.model, sigs, spec.batch, spec.time))
    # A float16 export is compared with the float32 module it came from.
    return module, {s.name: torch.from_numpy(a.astype("float32") if a.dtype.kind == "f" else a) for s, a in ((s, arrays[s.name]) for s in sigs)}


def run_torch(spec: ProfileSpec, budget: Budget) -> ProcessRun:
    try:
        import torch
    except ImportError:
        return ProcessRun(status="unavailable", error="torch is not installed in this environment (pip install 'ortkit[torch]')")
    if not spec.zoo_name and not spec.baseline_source:
        return ProcessRun(status="unavailable", error=(
            f"{spec.model_label} records no PyTorch source (not an ortkit export of a zoo model or a factory): "
            "give it with --baseline-source FILE.py:FACTORY"))
    device = "cuda" if spec.ep.startswith("cuda") else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        return ProcessRun(status="skipped", error="torch sees no CUDA device here")
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    built = _user_module(spec, torch) if spec.baseline_source else _zoo_module(spec, torch)
    if isinstance(built, ProcessRun):
        return built
    module, inputs = built[0].eval().to(device), [t.to(device) for t in built[1].values()]
    metrics: dict[str, Any] = {"session_create_ms": (time.perf_counter() - t0) * 1e3, "active_providers": [f"torch:{device}"]}
    metrics["input_shapes"] = {name: list(v.shape) for name, v in built[1].items()}
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



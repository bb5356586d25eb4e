"""Deployment variants of a verified fp32 export: FP16, INT8 (dynamic, static QDQ) and an
onnxruntime offline-optimized file for one EP. Each is verified against PyTorch at the same shapes
as the fp32 file (at its precision's tolerance) and reports what it changed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import platform
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ortkit.base import UsageError
from ortkit.base import cpu_model
from ortkit.exporter._sources import ModelSource
from ortkit.exporter._verify import (
    structural_report,
    TOLERANCES,
    Check,
    Tolerance,
    VerifyReport,
    op_inventory,
    parity_shapes,
    run_parity,
)

__all__ = ["VariantContext", "fp16_variant", "int8_dynamic_variant", "int8_static_variant", "optimized_variant",
           "CALIBRATION_METHODS", "OPTIMIZATION_LEVELS"]

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
OPTIMIZATION_LEVELS = ("basic", "extended", "all")
# Calibration reads this many task samples, in batches; enough for stable min/max and histograms,
# small enough for a 2-core machine.
CALIBRATION_SAMPLES = 128
CALIBRATION_BATCH = 16
METRIC_SAMPLES = 512


@dataclass
class VariantContext:
    """What every variant builder needs: the source, the verified fp32 file, a staging folder."""

    resolved: ModelSource
    base: Path
    staging: Path
    example: tuple[int, int]
    opset: int
    exporter: str
    versions: dict[str, str]


def _reference(ctx: VariantContext) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    from ortkit.exporter._torch_export import torch_reference

    return torch_reference(ctx.resolved.module, ctx.resolved.spec)


def _verify(ctx: VariantContext, path: Path, label: str, tolerance: Tolerance, *, feed_dtype: dict[str, str] | None = None,
            providers: tuple[str, ...] = ("CPUExecutionProvider",), checker: bool = True) -> VerifyReport:
    spec = ctx.resolved.spec
    report = structural_report(path, spec, label, checker=checker)
    shapes = parity_shapes(spec.inputs, *ctx.example)
    report.parity = run_parity(path, _reference(ctx), spec.inputs, shapes, tolerance, feed_dtype=feed_dtype, providers=providers,
                               int_high=ctx.resolved.int_high)
    return report


def _key(name: str) -> str:
    """An ``ortkit.*`` metadata key by its short name (the one list: ortkit.runtime.METADATA_KEYS)."""
    from ortkit.runtime import METADATA_KEYS

    return METADATA_KEYS[name]


def _finish(ctx: VariantContext, path: Path, precision: str, extra: dict[str, str] | None = None, info: dict[str, Any] | None = None) -> str:
    from ortkit.exporter._export import base_metadata, file_sha256, write_metadata

    export_info = {"exporter": ctx.exporter, "opset": ctx.opset, "versions": ctx.versions,
                   "source": ctx.resolved.describe(), "variant": precision, **(info or {})}
    write_metadata(path, {**base_metadata(ctx.resolved, precision, export_info), **(extra or {})})
    return file_sha256(path)


def _op_changes(before: Counter[str], after: Counter[str]) -> dict[str, Any]:
    changed = {op: {"before": before.get(op, 0), "after": after.get(op, 0)}
               for op in sorted(set(before) | set(after)) if before.get(op, 0) != after.get(op, 0)}
    return changed


def _load_inventory(path: Path) -> Counter[str]:
    import onnx

    return op_inventory(onnx.load(str(path)))


# ---------------------------------------------------------------------------------------------
# FP16


def toposort(graph: Any) -> None:
    """Reorder ``graph.node`` in place so each node follows the producers of its inputs."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        remaining = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                remaining.append(node)
        if len(remaining) == len(pending):  # a cycle or a dangling input: leave the rest as is
            ordered += remaining
            break
        pending = remaining
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def fp16_variant(ctx: VariantContext, keep_io: bool) -> Any:
    """``model.fp16.onnx``: weights and activations in float16 (onnxruntime.transformers.float16);
    ``keep_io`` keeps float32 inputs and outputs with Cast nodes at the edges."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from ortkit.exporter._result import VariantResult

    path = ctx.staging / "model.fp16.onnx"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = convert_float_to_float16(onnx.load(str(ctx.base)), keep_io_types=keep_io)
    # keep_io_types appends the input Casts at the end of the node list; ONNX requires
    # topological order (the checker, and some runtimes, reject the file otherwise).
    toposort(converted.graph)
    onnx.save(converted, str(path))
    notes = sorted({str(w.message).split("\n")[0][:200] for w in caught})
    io_dtype = "float32" if keep_io else "float16"
    sha = _finish(ctx, path, "fp16", {_key("io_dtype"): io_dtype})
    feed = None if keep_io else {s.name: "float16" for s in ctx.resolved.spec.inputs if s.dtype == "float32"}
    report = _verify(ctx, path, "fp16 variant", TOLERANCES["fp16"], feed_dtype=feed)
    changes = {
        "precision": "float16 weights and activations",
        "io_dtype": io_dtype,
        "ops": _op_changes(_load_inventory(ctx.base), _load_inventory(path)),
        "notes": notes,
    }
    return VariantResult("fp16", path.name, sha, report, changes, _metric(ctx, path, feed_dtype=feed))


# ---------------------------------------------------------------------------------------------
# INT8


def _float_recurrent_note(after: Counter[str]) -> list[str]:
    notes = []
    for op in ("GRU", "RNN", "LSTM"):
        if after.get(op):
            why = ("onnxruntime has no quantized GRU/RNN kernel" if op != "LSTM"
                   else "not quantized in this mode (only dynamic quantization has DynamicQuantizeLSTM)")
            notes.append(f"{after[op]} {op} layer(s) stay float32: {why}")
    return notes



class _QuietQuantizer:
    """onnxruntime.quantization reports through `logging` and `print`-free warnings; keep them
    as notes instead of letting them reach the user's terminal unexplained."""

    def __enter__(self) -> list[str]:
        # Entropy and percentile calibration print progress to stdout.
        self._stdout = contextlib.redirect_stdout(io.StringIO())
        self._stdout.__enter__()
        self._logger = logging.getLogger()
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)
        self._warnings = warnings.catch_warnings(record=True)
        self._caught = self._warnings.__enter__()
        warnings.simplefilter("always")
        self.notes: list[str] = []
        return self.notes

    def __exit__(self, *exc: Any) -> None:
        self.notes.extend(sorted({str(w.message).split("\n")[0][:200] for w in self._caught}))
        self._warnings.__exit__(*exc)
        self._logger.setLevel(self._level)
        self._stdout.__exit__(*exc)


def int8_dynamic_variant(ctx: VariantContext) -> Any:
    """``model.int8-dynamic.onnx``: weights int8, activations quantized at run time.
    LSTM becomes DynamicQuantizeLSTM; GRU and RNN have no quantized kernel and stay float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ortkit.exporter._result import VariantResult

    path = ctx.staging / "model.int8-dynamic.onnx"
    reduce = needs_reduced_range()
    with _QuietQuantizer() as notes:
        quantize_dynamic(str(ctx.base), str(path), weight_type=QuantType.QInt8, reduce_range=reduce)
    if reduce:
        notes.insert(0, "weights quantized to 7 bits (reduce_range): this CPU has AVX2 but no VNNI, where "
                        "u8s8 MatMulInteger saturates (measured: max error 0.17 vs 0.004 on a GRU head)")
    before, after = _load_inventory(ctx.base), _load_inventory(path)
    sha = _finish(ctx, path, "int8-dynamic")
    report = _verify(ctx, path, "int8-dynamic variant", TOLERANCES["int8-dynamic"])
    changes = {
        "precision": "int8 weights (per tensor, signed), activations quantized dynamically at run time",
        "reduce_range": reduce,
        "ops": _op_changes(before, after),
        "quantized_recurrent": after.get("DynamicQuantizeLSTM", 0),
        "float_recurrent": {op: after[op] for op in ("LSTM", "GRU", "RNN") if after.get(op)},
        "notes": _float_recurrent_note(after) + notes + (
            ["DynamicQuantizeLSTM is an onnxruntime contrib op: it runs on the CPU EP only"]
            if after.get("DynamicQuantizeLSTM") else []),
    }
    return VariantResult("int8-dynamic", path.name, sha, report, changes, _metric(ctx, path))


def needs_reduced_range() -> bool:
    """True on x86 CPUs without VNNI: their u8s8 integer dot product (vpmaddubsw) saturates int16
    intermediate sums, so onnxruntime recommends 7-bit weights (``reduce_range``) there."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return False
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # unknown x86: the safe choice costs one bit of weight precision
    return "vnni" not in text


class _TaskReader:
    """CalibrationDataReader over the first samples of a task's training split."""

    def __init__(self, name: str, x: np.ndarray) -> None:
        self._name = name
        self._batches: Iterator[np.ndarray] = iter(
            [np.ascontiguousarray(x[i:i + CALIBRATION_BATCH]) for i in range(0, len(x), CALIBRATION_BATCH)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._name: batch}

    def rewind(self) -> None:  # pragma: no cover - part of the reader protocol, unused by ort here
        pass


def _task(ctx: VariantContext, purpose: str) -> Any:
    from ortkit.models import get_task

    name = ctx.resolved.task
    if not name:
        raise UsageError(f"{purpose} needs task data: pass --task NAME (see `ortkit train --help` for the tasks)")
    task = get_task(name, **ctx.resolved.task_options)
    spec_in = ctx.resolved.spec.inputs
    if len(spec_in) != 1:
        raise UsageError(f"{purpose} uses task data, which feeds models with one input; this model has {len(spec_in)}")
    features = spec_in[0].dims[-1] if spec_in[0].dims[1] == "time" else spec_in[0].dims[1]
    if isinstance(features, int) and features != task.input_features:
        raise UsageError(
            f"task {name!r} has {task.input_features} input features but the model takes {features}: "
            "pass the --task the model was built for"
        )
    return task


def int8_static_variant(ctx: VariantContext, method: str = "minmax") -> Any:
    """``model.int8-static.onnx``: QDQ, signed int8 activations and weights (S8S8), calibrated on
    the task's training data with ``method`` (minmax, entropy or percentile)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from ortkit.exporter._result import VariantResult

    if method not in CALIBRATION_METHODS:
        raise UsageError(f"calibration method {method!r} is not one of {', '.join(CALIBRATION_METHODS)}")
    task = _task(ctx, "static int8 calibration")
    x, _ = task.load("train")
    sample = x[:CALIBRATION_SAMPLES]
    path = ctx.staging / "model.int8-static.onnx"
    calibrate = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                 "percentile": CalibrationMethod.Percentile}[method]
    with _QuietQuantizer() as notes:
        quantize_static(str(ctx.base), str(path), _TaskReader(ctx.resolved.spec.inputs[0].name, sample),
                        quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, calibrate_method=calibrate,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    before, after = _load_inventory(ctx.base), _load_inventory(path)
    quantized = _qdq_consumers(path)
    sha = _finish(ctx, path, "int8-static", {_key("calibration"): json.dumps(
        {"task": task.name, "method": method, "samples": int(len(sample))})})
    report = _verify_on_task(ctx, path, "int8-static variant", TOLERANCES["int8-static"], sample)
    changes = {
        "precision": "int8 activations and weights (QDQ, S8S8), static scales from calibration",
        "calibration": {"task": task.name, "method": method, "samples": int(len(sample)), "split": "train"},
        "quantized_ops": quantized,
        "ops": _op_changes(before, after),
        "float_recurrent": {op: after[op] for op in ("LSTM", "GRU", "RNN") if after.get(op)},
        "notes": _float_recurrent_note(after) + notes,
    }
    return VariantResult("int8-static", path.name, sha, report, changes, _metric(ctx, path))


def _qdq_consumers(path: Path) -> dict[str, int]:
    """op_type -> how many nodes of it read a DequantizeLinear output (what actually runs in int8)."""
    import onnx

    model = onnx.load(str(path))
    dq_outputs = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    counts: Counter[str] = Counter()
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") and any(i in dq_outputs for i in node.input):
            counts[node.op_type] += 1
    return dict(sorted(counts.items()))


def _verify_on_task(ctx: VariantContext, path: Path, label: str, tolerance: Tolerance, data: np.ndarray) -> VerifyReport:
    """Like `_verify`, but parity inputs are cut from task data: static scales are only valid in
    the range they were calibrated on, so random normal inputs would test the wrong thing. Times
    longer than the task's are made by joining samples end to end."""
    spec = ctx.resolved.spec
    report = structural_report(path, spec, label)
    name = spec.inputs[0].name
    timed = spec.inputs[0].dims[1] == "time"

    def cut(batch: int, time: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        rows = data[rng.integers(0, len(data), batch)]
        if not timed:
            return {name: np.ascontiguousarray(rows, dtype=np.float32)}
        reps = -(-time // rows.shape[1])
        return {name: np.ascontiguousarray(np.concatenate([rows] * reps, axis=1)[:, :time], dtype=np.float32)}

    report.parity = run_parity(path, _reference(ctx), spec.inputs, parity_shapes(spec.inputs, *ctx.example),
                               tolerance, input_maker=cut)
    return report


def _metric(ctx: VariantContext, path: Path, feed_dtype: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The task metric of the fp32 file and of the variant on the test split (trained models only)."""
    if not ctx.resolved.trained or not ctx.resolved.task:
        return None
    from ortkit.exporter._verify import open_session

    task = _task(ctx, "the before/after metric")
    x, y = task.load("test")
    x, y = x[:METRIC_SAMPLES], y[:METRIC_SAMPLES]
    name = ctx.resolved.spec.inputs[0].name

    def score(file: Path, dtype: str | None) -> float:
        session = open_session(file)
        preds = [session.run(None, {name: np.ascontiguousarray(x[i:i + 64], dtype=dtype)})[0] for i in range(0, len(x), 64)]
        return float(task.metric(np.concatenate(preds).astype(np.float32), y))

    before, after = score(ctx.base, None), score(path, (feed_dtype or {}).get(name))
    return {"name": task.metric_name, "higher_is_better": bool(task.higher_is_better), "task": task.name,
            "split": "test", "samples": int(len(x)), "fp32": before, "variant": after, "change": after - before}


# ---------------------------------------------------------------------------------------------
# Offline optimization


def provider_name(ep: str) -> str:
    """``cpu`` -> ``CPUExecutionProvider`` (full names pass through); must be available here."""
    import onnxruntime as ort

    from ortkit.runtime import provider_name as alias_target  # the one EP alias table

    name = alias_target(ep) or ep
    available = ort.get_available_providers()
    if name not in available:
        raise UsageError(f"execution provider {ep!r} ({name}) is not available here; available: {', '.join(available)}")
    return name


def optimized_variant(ctx: VariantContext, level: str, ep: str = "cpu") -> Any:
    """``model.optimized-<ep>.onnx``: the graph onnxruntime builds for ``ep`` at ``level``, saved so
    that sessions skip optimizing. It is tied to that EP, this onnxruntime version and (at ``all``)
    this CPU's instruction set: the metadata says so."""
    import onnxruntime as ort

    from ortkit.exporter._result import VariantResult
    from ortkit.exporter._native_output import capture_native_stderr

    if level not in OPTIMIZATION_LEVELS:
        raise UsageError(f"optimization level {level!r} is not one of {', '.join(OPTIMIZATION_LEVELS)}")
    provider = provider_name(ep)
    from ortkit.runtime import short_ep_name

    short = short_ep_name(provider)
    path = ctx.staging / f"model.optimized-{short}.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    options.optimized_model_filepath = str(path)
    options.log_severity_level = 2
    with capture_native_stderr() as logged:
        ort.InferenceSession(str(ctx.base), sess_options=options, providers=[provider])
    before, after = _load_inventory(ctx.base), _load_inventory(path)
    target = {"ep": provider, "level": level, "onnxruntime": ort.__version__, "machine": platform.machine(),
              "processor": cpu_model(), "specific": True}
    sha = _finish(ctx, path, "fp32", {_key("optimized_for"): json.dumps(target, sort_keys=True)})
    report = _verify(ctx, path, f"optimized ({level}, {short}) variant", TOLERANCES["fp32"],
                     providers=(provider,), checker=False)
    report.checks.insert(0, Check("onnx checker", True, "skipped: an optimized graph holds onnxruntime-internal ops"))
    changes = {
        "optimized_for": target,
        "ops": _op_changes(before, after),
        "nodes": {"before": sum(before.values()), "after": sum(after.values())},
        "notes": [f"EP- and machine-specific: load it only with {provider} and onnxruntime {ort.__version__} "
                  "on a machine like this one"] + [" ".join(line.split())[:200] for line in logged],
    }
    return VariantResult(f"optimized-{short}", path.name, sha, report, changes)

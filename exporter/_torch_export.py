"""Running torch's two ONNX exporters (TorchScript and dynamo) quietly, and pinning the declared
symbolic dims they leave behind."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ortkit.exporter._verify import (
    flatten_outputs,
)
from ortkit.models import ModelSpec


def example_args(spec: ModelSpec, batch: int, time: int, int_high: int = 8) -> tuple[Any, ...]:
    import torch

    from ortkit.exporter._verify import make_inputs

    return tuple(torch.from_numpy(v) for v in make_inputs(spec.inputs, batch, time, seed=7, int_high=int_high).values())


def torch_reference(module: Any, spec: ModelSpec) -> Any:
    import torch

    def reference(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            out = module(*[torch.from_numpy(feeds[s.name]) for s in spec.inputs])
        return [t.detach().cpu().float().numpy() for t in flatten_outputs(out)]

    return reference


def export_one(kind: str, module: Any, spec: ModelSpec, path: Path, opset: int, batch: int, time: int,
                int_high: int = 8) -> None:
    import torch

    from ortkit.exporter._native_output import capture_native_output

    args = example_args(spec, batch, time, int_high)
    in_names = [s.name for s in spec.inputs]
    out_names = [s.name for s in spec.outputs]
    # Deprecation and tracer warnings, and the IR dump the TorchScript exporter prints on failure
    # (from C++, straight to file descriptors 1 and 2), are noise here: verification judges the
    # file, and a failure is summarised in one line.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), capture_native_output(1), \
            capture_native_output(2):
        warnings.simplefilter("ignore")
        if kind == "torchscript":
            axes = {s.name: s.dynamic_axes for s in (*spec.inputs, *spec.outputs) if s.dynamic_axes}
            torch.onnx.export(module, args, str(path), dynamo=False, input_names=in_names,
                              output_names=out_names, dynamic_axes=axes, opset_version=opset,
                              do_constant_folding=True)
        else:
            from torch.export import Dim

            dims: dict[str, Any] = {}
            shapes = {s.name: {axis: dims.setdefault(name, Dim(name)) for axis, name in s.dynamic_axes.items()} or None
                      for s in spec.inputs}
            with quiet_torch_logs():
                program = torch.onnx.export(module, args, None, dynamo=True, input_names=in_names,
                                            output_names=out_names, dynamic_shapes=shapes,
                                            opset_version=opset, verbose=False)
            program.save(str(path))
    pin_declared_dims(path, spec)


def pin_declared_dims(path: Path, spec: ModelSpec) -> None:
    """Where the spec fixes an output dim the exporter left symbolic (a TCN cache's length, say),
    declare the number: consumers read exact shapes, and onnxruntime then warns (a verification
    failure) if the computed size ever differs."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    changed = False
    wanted = {s.name: s.dims for s in spec.outputs}
    for value in model.graph.output:
        dims = wanted.get(value.name)
        shape = value.type.tensor_type.shape
        if dims is None or len(shape.dim) != len(dims):
            continue
        for declared, want in zip(shape.dim, dims):
            if isinstance(want, int) and not declared.HasField("dim_value"):
                declared.dim_value = want
                changed = True
    if changed:
        onnx.save(model, str(path))


class quiet_torch_logs:
    """The dynamo exporter logs (torchvision missing, graph breaks) through `logging`."""

    def __enter__(self) -> None:
        import logging

        self._loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx", "onnxscript", "onnx_ir")]
        self._levels = [lg.level for lg in self._loggers]
        for lg in self._loggers:
            lg.setLevel(logging.ERROR)

    def __exit__(self, *exc: Any) -> None:
        for lg, level in zip(self._loggers, self._levels):
            lg.setLevel(level)


def summarise_export_error(error: BaseException) -> str:
    """One line from an exporter's (often multi-page) error: its first line, plus the op it names,
    plus the first line of its root cause (dynamo wraps the real error in a generic one)."""
    text = str(error).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else type(error).__name__
    summary = f"{type(error).__name__}: {first}"
    root = error
    seen = {id(root)}
    while (root.__cause__ or root.__context__) is not None and id(root.__cause__ or root.__context__) not in seen:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
        seen.add(id(root))
    if root is not error:
        root_lines = [ln.strip() for ln in str(root).splitlines() if ln.strip()]
        root_first = root_lines[0] if root_lines else ""
        if root_first and root_first not in summary:
            summary += f" (cause: {type(root).__name__}: {root_first})"
        text += "\n" + str(root)
    op = re.search(r"\b(aten|prim|[a-z_][a-z0-9_]*)::[A-Za-z_][\w.]*", text)
    if op and op.group(0) not in summary:
        summary += f" (op {op.group(0)})"
    return summary[:400]

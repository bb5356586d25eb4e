"""Keep empty tensors away from onnxruntime's recurrent kernels.

onnxruntime 1.32's RNN/LSTM/GRU kernels abort the whole process (SIGABRT) instead of returning an
error when their input ``X`` is empty (batch or time 0). `InputPlan` refuses empty *inputs*, but an
empty tensor can also come from a declared fixed dim of 0 or from the graph itself (a ``Slice``
that leaves nothing). So, for a model with recurrent nodes:

- at load, ONNX shape inference (with data propagation) runs on the declared signature; a
  recurrent input whose inferred shape has a 0 is `ModelRejected`, and so are a ``hidden_size``
  below 1 and an empty weight initializer;
- a recurrent input whose dims are all known and positive, or symbolic dims that are the graph
  inputs' own (which the input checks keep positive), needs nothing more per call;
- otherwise (a dim computed inside the graph) each new combination of input shapes is inferred
  once with the concrete shapes (cached), and a 0 there is `RunFailed` before onnxruntime runs.

Recurrent nodes inside subgraphs (If/Loop/Scan bodies) are not followed: ``isolate=True`` is the
protection for those and for any abort this check does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import onnx
from onnx import ModelProto, TensorProto, ValueInfoProto, helper

from ortkit.runtime._errors import ModelRejected, RunFailed

__all__ = ["RecurrentGuard", "RECURRENT_OPS"]

# (domain, op type) -> indexes of the inputs that reach the kernel as activations.
RECURRENT_OPS: dict[tuple[str, str], tuple[int, ...]] = {
    ("", "RNN"): (0, 5),
    ("", "GRU"): (0, 5),
    ("", "LSTM"): (0, 5, 6),
    ("com.microsoft", "DynamicQuantizeLSTM"): (0, 5, 6),
}
_WEIGHTS = (1, 2)
# Initializers this large are left out of the copy that shape inference reads (declared as inputs
# of the same type and shape instead): they do not decide shapes, and copying them per new shape
# would cost as much as the model.
_SMALL_INITIALIZER = 4096
_CACHE_SIZE = 1024
_MISSING: Any = object()


class RecurrentGuard:
    """Checks, at load and per new input shape, that no recurrent kernel gets an empty tensor."""

    def __init__(self, proto: ModelProto, where: str) -> None:
        self.where = where
        graph = proto.graph
        self.nodes = [n for n in graph.node if (n.domain or "", n.op_type) in RECURRENT_OPS
                      or (n.domain == "ai.onnx" and ("", n.op_type) in RECURRENT_OPS)]
        self.watched: list[tuple[str, str]] = []  # (tensor name, node label)
        self.per_call = False
        self._cache: dict[tuple[Any, ...], str | None] = {}
        if not self.nodes:
            return
        initializers = {t.name: t for t in graph.initializer}
        for node in self.nodes:
            label = _label(node)
            hidden = next((a.i for a in node.attribute if a.name == "hidden_size"), None)
            if hidden is not None and hidden < 1:
                raise ModelRejected(f"{where}: {label} has hidden_size {hidden}; it must be at least 1")
            for index in _WEIGHTS:
                if index < len(node.input) and node.input[index] in initializers:
                    dims = list(initializers[node.input[index]].dims)
                    if 0 in dims:
                        raise ModelRejected(f"{where}: {label} has an empty weight {node.input[index]!r} {dims}")
            indexes = RECURRENT_OPS.get((node.domain if node.domain != "ai.onnx" else "", node.op_type), (0,))
            for index in indexes:
                if index < len(node.input) and node.input[index]:
                    self.watched.append((node.input[index], label))
        self._skeleton = _skeleton(proto)
        self._input_names = [i.name for i in graph.input if i.name not in initializers]
        input_symbols = {
            d.dim_param for i in graph.input for d in i.type.tensor_type.shape.dim if d.dim_param
        }
        shapes = _infer(self._skeleton)
        for name, label in self.watched:
            dims = shapes.get(name)
            if dims is None:
                self.per_call = True
                continue
            if 0 in dims:
                raise ModelRejected(
                    f"{where}: {label} gets an empty tensor {name!r} of shape {_text(dims)} from the declared "
                    "inputs; onnxruntime aborts the process on empty recurrent inputs"
                )
            if any(not (isinstance(d, int) and d > 0) and d not in input_symbols for d in dims):
                self.per_call = True

    def check(self, feed: Mapping[str, Any]) -> None:
        """Raise `RunFailed` when these input shapes empty a recurrent node's tensor."""
        if not self.per_call:
            return
        key = tuple(getattr(feed.get(n), "shape", None) for n in self._input_names)
        # One get (not `in` then `[]`): another thread may clear the cache in between.
        problem = self._cache.get(key, _MISSING)
        if problem is _MISSING:
            problem = self._problem(dict(zip(self._input_names, key)))
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = problem
        if problem is not None:
            raise RunFailed(f"{self.where}: {problem}")

    def _problem(self, shapes: Mapping[str, tuple[int, ...] | None]) -> str | None:
        concrete = ModelProto()
        concrete.CopyFrom(self._skeleton)
        for value in concrete.graph.input:
            shape = shapes.get(value.name)
            if shape is None or not value.type.HasField("tensor_type"):
                continue
            value.type.tensor_type.shape.Clear()
            for size in shape:
                value.type.tensor_type.shape.dim.add().dim_value = int(size)
        inferred = _infer(concrete)
        for name, label in self.watched:
            dims = inferred.get(name)
            if dims is not None and 0 in dims:
                given = ", ".join(f"{n}{tuple(s)}" for n, s in shapes.items() if s is not None)
                return (
                    f"{label} would get an empty tensor {name!r} of shape {_text(dims)} for inputs {given}; "
                    "onnxruntime aborts the process on empty recurrent inputs, so the model was not run"
                )
        return None

def _skeleton(proto: ModelProto) -> ModelProto:
    """The model without its large weights (declared as inputs of the same type and shape)."""
    out = ModelProto()
    out.ir_version = proto.ir_version
    out.opset_import.extend(proto.opset_import)
    out.functions.extend(proto.functions)
    graph = out.graph
    graph.name = proto.graph.name
    graph.node.extend(proto.graph.node)
    graph.input.extend(proto.graph.input)
    graph.output.extend(proto.graph.output)
    graph.value_info.extend(proto.graph.value_info)
    declared = {value.name for value in proto.graph.input}
    for tensor in proto.graph.initializer:
        size = len(tensor.raw_data) + 8 * (len(tensor.float_data) + len(tensor.int64_data) + len(tensor.int32_data))
        if size <= _SMALL_INITIALIZER and tensor.data_location != TensorProto.EXTERNAL:
            graph.initializer.append(tensor)
        elif tensor.name not in declared:
            graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    return out


def _infer(model: ModelProto) -> dict[str, tuple[int | str | None, ...]]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:  # inference gives up on some graphs; what it cannot say is checked per call or not at all
        return {}
    shapes: dict[str, tuple[int | str | None, ...]] = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = _dims(value)
        if dims is not None:
            shapes[value.name] = dims
    return shapes


def _dims(value: ValueInfoProto) -> tuple[int | str | None, ...] | None:
    if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
        return None
    out: list[int | str | None] = []
    for dim in value.type.tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            out.append(int(dim.dim_value))
        elif dim.HasField("dim_param") and dim.dim_param and not dim.dim_param.startswith("unk__"):
            out.append(dim.dim_param)
        else:
            out.append(None)
    return tuple(out)


def _label(node: onnx.NodeProto) -> str:
    name = node.name or (node.output[0] if node.output else "?")
    return f"{node.op_type} node {name[:60]!r}"


def _text(dims: tuple[int | str | None, ...]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"

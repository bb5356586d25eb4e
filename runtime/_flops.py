"""FLOPs of one forward pass of an ONNX graph at concrete input shapes: `count_flops`, which the
profiler and `inspect_model` use.

Conventions: a multiply-add is 2 FLOPs; an elementwise op is 1 FLOP per output element
(activations included); the FLOPs of recurrent ops cover the gate matrix products, bias adds, gate
activations and state updates for every time step and direction. Ops that only move data
(Reshape, Transpose, Gather, Concat...) cost 0. A convolution costs 2 x output elements x (input
channels / group) x kernel size, plus one add per output element for its bias: strides,
dilations, padding and groups enter through the output shape, which shape inference gives after
small input-independent subgraphs (an exporter's computed pads) are folded to constants. Any op
this module does not know, or whose shapes onnx shape inference cannot resolve at the given input
shapes, is listed in ``uncounted_ops``: it is never silently counted as 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import GraphProto, ModelProto, TensorProto, helper

from ortkit.runtime._errors import InputError

__all__ = ["FlopCount", "count_flops"]

_SMALL_INITIALIZER = 1024  # elements: kept for shape inference (shape, axes and pads constants)

_ZERO_COST = frozenset(
    """Reshape Transpose Squeeze Unsqueeze Concat Split Slice Gather GatherElements GatherND Shape
    Size Identity Flatten Cast CastLike Constant ConstantOfShape Dropout Range Tile Expand Pad
    DepthToSpace SpaceToDepth EyeLike Trilu OneHot ScatterND ScatterElements NonZero
    SequenceConstruct SplitToSequence ConcatFromSequence Optional OptionalGetElement""".split()
)
# FLOPs per output element.
_ELEMENTWISE: dict[str, int] = {
    **{op: 1 for op in """Add Sub Mul Div Pow Sqrt Reciprocal Neg Abs Exp Log Relu LeakyRelu PRelu Elu
    Selu Celu Sigmoid HardSigmoid HardSwish Tanh Softplus Softsign Erf Gelu Clip Max Min Mean Sum
    Sign Floor Ceil Round Mod Sin Cos ThresholdedRelu Mish Where Not And Or Xor Equal Less Greater
    LessOrEqual GreaterOrEqual IsNaN IsInf BitShift Shrink""".split()},
    "Softmax": 3,
    "LogSoftmax": 4,
    "BatchNormalization": 2,
    "LayerNormalization": 8,
    "InstanceNormalization": 8,
    "GroupNormalization": 8,
    "QuantizeLinear": 2,
    "DequantizeLinear": 2,
    "DynamicQuantizeLinear": 4,
}
_REDUCE = frozenset(
    """ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceSumSquare
    ReduceLogSum ReduceLogSumExp GlobalAveragePool GlobalMaxPool ArgMax ArgMin""".split()
)
_MATMUL_LIKE = frozenset({"MatMul", "MatMulInteger", "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"})
# op -> (input index of X, input index of W, input index of the bias or None)
_CONV_LIKE = {"Conv": (0, 1, 2), "ConvInteger": (0, 1, None), "QLinearConv": (0, 3, 8)}
_RECURRENT = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn", "DynamicQuantizeLSTM": "lstm"}


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one forward pass at concrete input shapes."""

    total: int
    per_op_type: dict[str, int] = field(default_factory=dict)
    uncounted_ops: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every op was counted (``total`` is the whole model)."""
        return not self.uncounted_ops

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "per_op_type": dict(self.per_op_type), "uncounted_ops": list(self.uncounted_ops)}


def count_flops(model: ModelProto, shapes: Mapping[str, Sequence[int] | int] | None = None) -> FlopCount:
    """Count the FLOPs of ``model`` at concrete input shapes.

    Args:
        model: the ONNX model (external data need not be loaded).
        shapes: input name -> full shape, and/or symbolic dim name -> size (``{"batch": 1,
            "time": 100}``). Inputs whose dims are all fixed need nothing.

    Returns:
        A `FlopCount`; ops that could not be counted are named in ``uncounted_ops``.

    Raises:
        InputError: an input dim is still symbolic after applying ``shapes``, or a given shape
            contradicts a fixed dim.
    """
    shapes = dict(shapes or {})
    prepared = _fold_constants(_concrete_model(model, shapes))
    inferred = _infer(prepared)
    if _type_contrib_recurrent(inferred):
        # onnx does not know com.microsoft's DynamicQuantizeLSTM: with its outputs typed, the
        # ops after it (a quantized model's head) get their shapes too
        inferred = _infer(inferred)
    known = _shape_map(inferred.graph)
    per_op: dict[str, int] = {}
    uncounted: set[str] = set()
    for node in inferred.graph.node:
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        flops = _node_flops(node, known)
        if flops is None:
            uncounted.add(op)
        else:
            per_op[op] = per_op.get(op, 0) + flops
    return FlopCount(total=sum(per_op.values()), per_op_type=per_op, uncounted_ops=tuple(sorted(uncounted)))


def _infer(model: ModelProto) -> ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:  # inference failed: nothing can be trusted, so nothing is counted
        return model


def _type_contrib_recurrent(model: ModelProto) -> bool:
    """Add the output shapes of contrib recurrent nodes (Y: T, directions, B, H; Y_h, Y_c:
    directions, B, H) that inference left unknown; True when any was added."""
    known = _shape_map(model.graph)
    added = False
    for node in model.graph.node:
        if node.domain != "com.microsoft" or node.op_type not in _RECURRENT or not node.input or not node.output:
            continue
        x, hidden = known.get(node.input[0]), _attr(node, "hidden_size")
        if x is None or len(x) != 3 or not hidden or _attr(node, "layout", 0) != 0:
            continue
        directions = 2 if _attr(node, "direction", b"forward") in (b"bidirectional", "bidirectional") else 1
        shapes = [(x[0], directions, x[1], hidden), (directions, x[1], hidden), (directions, x[1], hidden)]
        for name, shape in zip(node.output, shapes):
            if name and known.get(name) is None:
                model.graph.value_info.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
                added = True
    return added


def _concrete_model(model: ModelProto, shapes: dict[str, Sequence[int] | int]) -> ModelProto:
    graph = GraphProto()
    graph.name = model.graph.name
    graph.node.extend(model.graph.node)
    input_names = {i.name for i in model.graph.input}
    initializer_names = set()
    for tensor in model.graph.initializer:
        initializer_names.add(tensor.name)
        count = math.prod(tensor.dims)
        if count <= _SMALL_INITIALIZER and tensor.data_location != TensorProto.EXTERNAL:
            graph.initializer.append(tensor)
        elif tensor.name not in input_names:
            # Weights become typed inputs: shape inference needs their shape, not their values.
            graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    for sparse in model.graph.sparse_initializer:
        initializer_names.add(sparse.values.name)
        if sparse.values.name not in input_names:
            graph.input.append(helper.make_tensor_value_info(sparse.values.name, sparse.values.data_type, list(sparse.dims)))
    shapes = {k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in shapes.items()}
    symbols = {k: v for k, v in shapes.items() if isinstance(v, int)}
    for given in model.graph.input:
        value = graph.input.add()
        value.CopyFrom(given)
        if given.name in initializer_names or not value.type.HasField("tensor_type"):
            continue
        dims = value.type.tensor_type.shape.dim
        explicit = shapes.get(given.name)
        if explicit is not None and not isinstance(explicit, int):
            explicit = [int(d) for d in explicit]
            if len(explicit) != len(dims):
                raise InputError(f"count_flops: input {given.name!r} has rank {len(dims)}, got shape {tuple(explicit)}")
        for axis, dim in enumerate(dims):
            want = explicit[axis] if explicit is not None and not isinstance(explicit, int) else None
            if dim.HasField("dim_value"):
                if want is not None and want != dim.dim_value:
                    raise InputError(f"count_flops: input {given.name!r} dim {axis} is fixed at {dim.dim_value}, got {want}")
                continue
            if want is None and dim.dim_param in symbols:
                want = symbols[dim.dim_param]
            if want is None:
                raise InputError(
                    f"count_flops: input {given.name!r} dim {axis} ({dim.dim_param or '?'}) is symbolic; "
                    f"give the input's shape or the size of {dim.dim_param or 'that dim'!r}"
                )
            dim.Clear()
            dim.dim_value = want
    for output in model.graph.output:
        value = graph.output.add()
        value.name = output.name
        if output.type.HasField("tensor_type"):
            value.type.tensor_type.elem_type = output.type.tensor_type.elem_type
    out = helper.make_model(graph, opset_imports=list(model.opset_import))
    out.ir_version = model.ir_version
    out.functions.extend(model.functions)
    return out


# Ops evaluated when all their inputs are constants: exporters compute a Pad's pads (a causal
# convolution's left padding) with such chains, and shape inference does not propagate through
# them, which left every op after the first Pad unsized (a TCN's count was a lower bound).
_FOLDABLE = frozenset(
    """Constant ConstantOfShape Concat Reshape Slice Transpose Cast Squeeze Unsqueeze Gather Add Sub
    Mul Div Neg Range Identity Expand Tile Flatten Min Max Abs Equal Where Not""".split()
)


def _fold_constants(model: ModelProto) -> ModelProto:
    """``model`` with the small outputs of input-independent nodes (`_FOLDABLE`) turned into
    initializers, so shape inference sees the values (pads, shapes) they compute."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    kept, folded = [], []
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if (node.domain in ("", "ai.onnx") and node.op_type in _FOLDABLE and all(name in values for name in inputs)
                and not any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)):
            try:
                results = ReferenceEvaluator(node, opsets={"": opset} if opset else None).run(None, {n: values[n] for n in inputs})
            except Exception:  # noqa: BLE001 - an op the evaluator cannot run stays in the graph, unfolded
                results = None
            if results is not None and all(np.asarray(r).size <= _SMALL_INITIALIZER for r in results):
                for name, result in zip(node.output, results):
                    values[name] = np.asarray(result)
                    folded.append(numpy_helper.from_array(np.asarray(result), name))
                continue
        kept.append(node)
    if not folded:
        return model
    out = ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(kept)
    out.graph.initializer.extend(folded)
    return out


def _shape_map(graph: GraphProto) -> dict[str, tuple[int, ...] | None]:
    known: dict[str, tuple[int, ...] | None] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
            continue
        dims = value.type.tensor_type.shape.dim
        known[value.name] = tuple(d.dim_value for d in dims) if all(d.HasField("dim_value") for d in dims) else None
    for tensor in graph.initializer:
        known[tensor.name] = tuple(tensor.dims)
    return known


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _node_flops(node: onnx.NodeProto, known: Mapping[str, tuple[int, ...] | None]) -> int | None:
    op = node.op_type

    def shape(index: int, outputs: bool = False) -> tuple[int, ...] | None:
        names = node.output if outputs else node.input
        if index >= len(names) or not names[index]:
            return None
        return known.get(names[index])

    if node.domain not in ("", "ai.onnx", "com.microsoft"):
        return None
    if node.domain == "com.microsoft" and op not in _MATMUL_LIKE and op not in _RECURRENT and op not in _CONV_LIKE:
        return None
    if op in _ZERO_COST:
        return 0
    if op in _ELEMENTWISE:
        out = shape(0, outputs=True)
        return None if out is None else _ELEMENTWISE[op] * math.prod(out)
    if op in _REDUCE:
        x = shape(0)
        return None if x is None else math.prod(x)
    if op in ("MaxPool", "AveragePool", "LpPool"):
        out, kernel = shape(0, outputs=True), _attr(node, "kernel_shape")
        return None if out is None or not kernel else math.prod(out) * math.prod(kernel)
    if op in _MATMUL_LIKE:
        a, out = shape(0), shape(0, outputs=True)
        if a is None or out is None or not a:
            return None
        return 2 * math.prod(out) * a[-1]
    if op == "Gemm":
        a, out = shape(0), shape(0, outputs=True)
        if a is None or out is None or len(a) != 2:
            return None
        k = a[0] if _attr(node, "transA", 0) else a[1]
        bias = math.prod(out) if len(node.input) > 2 and node.input[2] else 0
        return 2 * math.prod(out) * k + bias
    if op in _CONV_LIKE:
        xi, wi, bi = _CONV_LIKE[op]
        w, out = shape(wi), shape(0, outputs=True) or _conv_output(node, shape(xi), shape(wi))
        if w is None or out is None:
            return None
        # every output element is a dot product over C/group input channels x the kernel
        bias = math.prod(out) if bi is not None and len(node.input) > bi and node.input[bi] else 0
        return 2 * math.prod(out) * math.prod(w[1:]) + bias
    if op == "ConvTranspose":
        x, w, out = shape(0), shape(1), shape(0, outputs=True)
        if x is None or w is None or out is None:
            return None
        bias = math.prod(out) if len(node.input) > 2 and node.input[2] else 0
        return 2 * math.prod(x) * math.prod(w[1:]) + bias
    if op in _RECURRENT:
        return _recurrent_flops(node, _RECURRENT[op], shape(0))
    return None


def _conv_output(node: onnx.NodeProto, x: tuple[int, ...] | None, w: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """A convolution's output shape from its input, weight and attributes (kernel, strides,
    dilations, pads or auto_pad), for when shape inference left it unknown."""
    if x is None or w is None or len(x) != len(w) or len(x) < 3:
        return None
    spatial = len(x) - 2
    kernel = list(_attr(node, "kernel_shape", w[2:]))
    strides = list(_attr(node, "strides", [1] * spatial))
    dilations = list(_attr(node, "dilations", [1] * spatial))
    pads = list(_attr(node, "pads", [0] * (2 * spatial)))
    auto_pad = _attr(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    dims = []
    for i in range(spatial):
        span = dilations[i] * (kernel[i] - 1) + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            dims.append(-(-x[2 + i] // strides[i]))
        elif auto_pad == "VALID":
            dims.append((x[2 + i] - span) // strides[i] + 1)
        else:
            dims.append((x[2 + i] + pads[i] + pads[i + spatial] - span) // strides[i] + 1)
    return None if any(d < 1 for d in dims) else (x[0], w[0], *dims)


def _recurrent_flops(node: onnx.NodeProto, kind: str, x: tuple[int, ...] | None) -> int | None:
    hidden = _attr(node, "hidden_size")
    if x is None or len(x) != 3 or not hidden:
        return None
    if _attr(node, "layout", 0) == 1:
        batch, steps, features = x
    else:
        steps, batch, features = x
    directions = 2 if _attr(node, "direction", b"forward") in (b"bidirectional", "bidirectional") else 1
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    has_bias = len(node.input) > 3 and bool(node.input[3])
    per_step = 2 * batch * gates * hidden * (features + hidden)  # W x + R h
    if has_bias:
        per_step += 2 * batch * gates * hidden  # Wb and Rb
    # Activations (one per gate value) and the state update: LSTM c = f*c + i*g, h = o*tanh(c);
    # GRU h = (1-z)*n + z*h with r applied to R h; RNN none beyond its activation.
    update = {"lstm": 5, "gru": 4, "rnn": 0}[kind]
    per_step += batch * hidden * (gates + update)
    if kind == "lstm" and len(node.input) > 7 and node.input[7]:
        per_step += 2 * 3 * batch * hidden  # peepholes
    return per_step * steps * directions

"""What one fuzz case is: a mutated model fed to `Runtime`, or mutated inputs fed to a good one.

The oracle is the runtime's promise: a call returns, or raises an `OrtkitError` (one line); any
other exception is a failure, and an abort or a hang is caught by the chunk runner's parent.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from ortkit.base import OrtkitError
from ortkit.runtime import Runtime
from tests.runtime.conftest import gru_model, mlp_model, two_input_model

OUTCOMES: Counter[str] = Counter()
_MARK = "QZXJQ"
_OPS = ["GRU", "LSTM", "RNN", "Slice", "Relu", "MatMul", "Transpose", "Squeeze", "Reshape", "Expand",
        "Gather", "Concat", "Identity", "Loop", "If", "Conv", "Tile", "Resize", "ConstantOfShape", "Nonexistent"]
_ODD_INTS = [0, -1, 1, 2, 3, 7, 2**31 - 1, -(2**31), 2**62, -(2**63), 10**6]


def lstm_model(features: int = 3, hidden: int = 4) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, features)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32), "R"),
             numpy_helper.from_array(np.array([0], np.int64), "s"), numpy_helper.from_array(np.array([2], np.int64), "e"),
             numpy_helper.from_array(np.array([0], np.int64), "a")]
    nodes = [helper.make_node("Slice", ["x", "s", "e", "a"], ["xs"], name="slice"),
             helper.make_node("LSTM", ["xs", "W", "R"], ["Y", "Y_h"], hidden_size=hidden, name="lstm")]
    graph = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", features])],
                              [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "batch", hidden])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="fuzz")
    model.ir_version = 8
    model.metadata_props.add(key="ortkit.model", value="lstm-fuzz")
    return model


SEEDS: list[onnx.ModelProto] = [mlp_model(), two_input_model(), gru_model(), lstm_model()]
SEED_BYTES = [m.SerializeToString() for m in SEEDS]


def try_model(data: bytes, isolate: bool = False) -> str:
    """Load ``data`` and run it once on small random inputs; the outcome's name."""
    from ortkit.runtime._files import random_inputs

    try:
        with Runtime(data, "cpu", threads=1, isolate=isolate, timeout=60 if isolate else None) as rt:
            symbols = {d: 2 for i in rt.inputs for d in i.dims if isinstance(d, str)}
            feed = random_inputs(rt.inputs, symbols, unnamed=2, max_bytes=2**26)
            rt.run(feed)
    except OrtkitError as error:
        return f"clean {type(error).__name__}"
    return "ran"


def try_inputs(seed_index: int, feed: Any, cast: bool) -> str:
    rt = _runtime(seed_index)
    try:
        rt.run(feed, cast=cast)
    except OrtkitError as error:
        return f"clean {type(error).__name__}"
    return "ran"


_RUNTIMES: dict[int, Runtime] = {}


def _runtime(index: int) -> Runtime:
    if index not in _RUNTIMES:
        _RUNTIMES[index] = Runtime(SEED_BYTES[index], "cpu", threads=1)
    return _RUNTIMES[index]


# ----------------------------------------------------------------- strategies
@st.composite
def byte_mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEED_BYTES)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at: at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


@st.composite
def structure_mutated(draw: st.DrawFn) -> bytes:
    model = onnx.ModelProto()
    model.CopyFrom(draw(st.sampled_from(SEEDS)))
    graph = model.graph
    bad_utf8 = False
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["dim", "op", "attr", "drop", "rewire", "init_dims", "dtype", "utf8", "slice"]))
        values = [*graph.input, *graph.output]
        if kind == "dim" and values:
            value = draw(st.sampled_from(values))
            dims = value.type.tensor_type.shape.dim
            if dims:
                dim = dims[draw(st.integers(0, len(dims) - 1))]
                choice = draw(st.sampled_from(["zero", "value", "param"]))
                if choice == "zero":
                    dim.dim_value = 0
                elif choice == "value":
                    dim.dim_value = draw(st.sampled_from(_ODD_INTS))
                else:
                    dim.dim_param = draw(st.sampled_from(["batch", "time", "n", ""]))
        elif kind == "op" and graph.node:
            graph.node[draw(st.integers(0, len(graph.node) - 1))].op_type = draw(st.sampled_from(_OPS))
        elif kind == "attr" and graph.node:
            node = graph.node[draw(st.integers(0, len(graph.node) - 1))]
            node.attribute.append(helper.make_attribute(
                draw(st.sampled_from(["hidden_size", "perm", "axis", "direction", "linear_before_reset", "keepdims"])),
                draw(st.sampled_from(_ODD_INTS))))
            if len(node.attribute) > 1 and draw(st.booleans()):
                del node.attribute[0]
        elif kind == "drop" and graph.node:
            del graph.node[draw(st.integers(0, len(graph.node) - 1))]
        elif kind == "rewire" and graph.node:
            node = graph.node[draw(st.integers(0, len(graph.node) - 1))]
            names = [v.name for v in graph.input] + [t.name for t in graph.initializer] + [o for n in graph.node for o in n.output] + [""]
            if node.input:
                node.input[draw(st.integers(0, len(node.input) - 1))] = draw(st.sampled_from(names))
        elif kind == "init_dims" and graph.initializer:
            tensor = graph.initializer[draw(st.integers(0, len(graph.initializer) - 1))]
            if tensor.dims:
                tensor.dims[draw(st.integers(0, len(tensor.dims) - 1))] = draw(st.sampled_from(_ODD_INTS))
        elif kind == "dtype" and values:
            value = draw(st.sampled_from(values))
            value.type.tensor_type.elem_type = draw(st.integers(0, 25))
        elif kind == "utf8":
            _mark_string(model, draw(st.integers(0, 6)))
            bad_utf8 = True
        elif kind == "slice" and graph.input:
            _empty_slice_before_first(model, draw(st.sampled_from([0, 1, 2])))
    data = model.SerializeToString()
    if bad_utf8:
        data = data.replace(_MARK.encode(), draw(st.sampled_from([b"\xff\xfe\xfd\xfc\xfb", b"Q\xc3(ZZ", b"\xed\xa0\x80QQ"])))
    return data


def _mark_string(model: onnx.ModelProto, which: int) -> None:
    graph = model.graph
    if which == 0:
        graph.name = _MARK
    elif which == 1 and graph.node:
        graph.node[0].name = _MARK
    elif which == 2 and graph.input and graph.input[0].type.tensor_type.shape.dim:
        graph.input[0].type.tensor_type.shape.dim[0].dim_param = _MARK
    elif which == 3:
        model.metadata_props.add(key=_MARK, value="v")
    elif which == 4:
        model.doc_string = _MARK
    elif which == 5 and graph.initializer:
        tensor = graph.initializer[0]
        tensor.data_location = TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value=_MARK)
    else:
        model.producer_name = _MARK


def _empty_slice_before_first(model: onnx.ModelProto, axis: int) -> None:
    """Put a Slice that leaves nothing on ``axis`` between the first input and its readers."""
    graph = model.graph
    source = graph.input[0].name
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == source:
                node.input[i] = "fuzz_sliced"
    for name, value in (("fuzz_s", 0), ("fuzz_e", 0), ("fuzz_a", axis)):
        graph.initializer.append(numpy_helper.from_array(np.array([value], np.int64), name))
    graph.node.insert(0, helper.make_node("Slice", [source, "fuzz_s", "fuzz_e", "fuzz_a"], ["fuzz_sliced"]))


_DTYPES = ["float32", "float64", "float16", "int64", "int32", "uint64", "int8", "bool", "complex64", "U3", "O"]


@st.composite
def input_case(draw: st.DrawFn) -> tuple[int, Any, bool]:
    index = draw(st.integers(0, len(SEEDS) - 1))
    rt = _runtime(index)
    feed: dict[str, Any] = {}
    for info in rt.inputs:
        if draw(st.integers(0, 20)) == 0:
            continue  # a missing input
        if draw(st.integers(0, 2)) == 0:  # a good input, so that runs are fuzzed too
            sizes = [d if isinstance(d, int) else draw(st.integers(1, 3)) for d in info.dims]
            feed[info.name] = np.random.default_rng(0).standard_normal(sizes).astype(info.dtype)
            continue
        rank = info.rank if draw(st.integers(0, 5)) else draw(st.integers(0, 4))
        shape = tuple(d if isinstance(d, int) and draw(st.booleans()) else draw(st.integers(0, 4)) for d in (list(info.dims) + [1] * 4)[:rank])
        dtype = draw(st.sampled_from([info.dtype, info.dtype, *_DTYPES]))
        special = draw(st.sampled_from([0.0, 1.5, -1.0, np.nan, np.inf, 1e30, 2.0**63, 2.0**64 - 1, 70000.0, -(2.0**63)]))
        try:
            array = np.full(shape, special).astype(dtype) if dtype not in ("U3", "O") else np.full(shape, "ab", dtype=dtype)
        except (OverflowError, ValueError):
            array = np.zeros(shape, dtype=dtype)
        form = draw(st.sampled_from(["array", "array", "list", "scalar", "none", "view"]))
        feed[info.name] = {"array": array, "list": array.tolist(), "scalar": special, "none": None,
                           "view": array.T if array.ndim else array}[form]
    if draw(st.integers(0, 30)) == 0:
        feed["unknown"] = np.zeros(1, np.float32)
    return index, feed, draw(st.booleans())

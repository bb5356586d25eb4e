"""Small ONNX models built with onnx.helper, so the runtime's tests need neither torch nor the
exporter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _model(nodes, inputs, outputs, initializers=(), metadata=None, opset: int = OPSET) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="ortkit-tests")
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model


def mlp_model(features: int = 4, outputs: int = 3, seed: int = 0) -> onnx.ModelProto:
    """y = relu(x @ W + b), x: (batch, features)."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((features, outputs)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(outputs).astype(np.float32), "b")
    return _model(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["pre"]),
         helper.make_node("Relu", ["pre"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", outputs])],
        [w, b],
        metadata={"ortkit.model": "mlp-test"},
    )


def two_input_model() -> onnx.ModelProto:
    """y = x * s + t, x: (batch, time, 8) float32, s: (batch, 1, 8) float32, t: (3,) int64 -> sum."""
    return _model(
        [helper.make_node("Mul", ["x", "s"], ["y"]), helper.make_node("ReduceSum", ["t"], ["n"], keepdims=0)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 8]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, ["batch", 1, 8]),
         helper.make_tensor_value_info("t", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 8]),
         helper.make_tensor_value_info("n", TensorProto.INT64, [])],
    )


def gru_model(features: int = 5, hidden: int = 16, outputs: int = 3, streaming: bool = True, seed: int = 0) -> onnx.ModelProto:
    """A one-layer GRU with a per-step linear head, in the streaming-export layout:
    x (batch, time, features), h (batch, 1, hidden) -> y (batch, time, outputs), h_out."""
    rng = np.random.default_rng(seed)
    scale = 0.4
    inits = [
        numpy_helper.from_array((scale * rng.standard_normal((1, 3 * hidden, features))).astype(np.float32), "W"),
        numpy_helper.from_array((scale * rng.standard_normal((1, 3 * hidden, hidden))).astype(np.float32), "R"),
        numpy_helper.from_array((scale * rng.standard_normal((1, 6 * hidden))).astype(np.float32), "B"),
        numpy_helper.from_array((scale * rng.standard_normal((hidden, outputs))).astype(np.float32), "Wo"),
        numpy_helper.from_array(np.array([1, 0, 2], dtype=np.int64), "perm_h"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_t"], perm=[1, 0, 2]),  # (time, batch, features)
        helper.make_node("Transpose", ["h"], ["h_t"], perm=[1, 0, 2]),  # (1, batch, hidden)
        helper.make_node("GRU", ["x_t", "W", "R", "B", "", "h_t"], ["Y", "Y_h"], hidden_size=hidden,
                         linear_before_reset=1),
        helper.make_node("Squeeze", ["Y", "one"], ["Y_s"]),  # (time, batch, hidden)
        helper.make_node("Transpose", ["Y_s"], ["Y_b"], perm=[1, 0, 2]),  # (batch, time, hidden)
        helper.make_node("MatMul", ["Y_b", "Wo"], ["y"]),
        helper.make_node("Transpose", ["Y_h"], ["h_out"], perm=[1, 0, 2]),
    ]
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "one"))
    metadata = {"ortkit.model": "gru-test"}
    if streaming:
        metadata["ortkit.streaming"] = "1"
        metadata["ortkit.streaming.states"] = json.dumps(
            [{"name": "h", "input": "h", "output": "h_out", "dims": ["batch", 1, hidden], "dtype": "float32"}]
        )
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", features]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, ["batch", 1, hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", outputs]),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["batch", 1, hidden])],
        inits[:4] + inits[6:],
        metadata=metadata,
    )


@pytest.fixture
def save(tmp_path: Path) -> Callable[..., Path]:
    """Write a model to tmp_path and return its path."""

    def _save(model: onnx.ModelProto, name: str = "model.onnx") -> Path:
        path = tmp_path / name
        onnx.save(model, path)
        return path

    return _save


@pytest.fixture
def models() -> object:
    class Models:
        mlp = staticmethod(mlp_model)
        two_input = staticmethod(two_input_model)
        gru = staticmethod(gru_model)
        build = staticmethod(_model)

    return Models


def point_external(tensor: TensorProto, location: str = "../outside.bin", **extra: str) -> TensorProto:
    """Point ``tensor`` at external data at ``location`` (its bytes are not written); ``extra``
    adds external-data keys such as offset or length."""
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.ClearField("int64_data")
    del tensor.external_data[:]
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, **extra}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


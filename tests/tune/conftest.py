"""Small real ONNX models for the tuning tests (onnx.helper, no torch): a time-axis model whose
cost is set by its width, and hand-made "variants" next to it with an export.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def seq_model(path: Path, width: int = 16, *, precision: str = "fp32", shift: float = 0.0, seed: int = 0) -> Path:
    """x (batch, time, 8) -> relu(x @ W1) @ W2 + shift, summed over time: (batch, 8). The cost
    grows with ``width``; ``shift`` makes a "variant" whose outputs differ from the fp32 file."""
    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.standard_normal((8, width)).astype(np.float32) * 0.1, "W1")
    w2 = numpy_helper.from_array(rng.standard_normal((width, 8)).astype(np.float32) * 0.1, "W2")
    b = numpy_helper.from_array(np.full((8,), shift, dtype=np.float32), "B")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "W2"], ["o"]), helper.make_node("Add", ["o", "B"], ["s"]),
        helper.make_node("ReduceSum", ["s", "axes"], ["y"], keepdims=0),
    ]
    graph = helper.make_graph(nodes, "seq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])], [w1, w2, b, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"ortkit.precision": precision, "ortkit.family": "cnn"})
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def export_folder(folder: Path, variants: dict[str, dict | None], *, shift: float = 0.0) -> Path:
    """model.onnx plus one file per variant kind, listed in export.json with the given metric
    record (None: no task metric, so the output tolerance decides)."""
    model = seq_model(folder / "model.onnx")
    listed = []
    for kind, metric in variants.items():
        name = f"model.{kind}.onnx"
        seq_model(folder / name, precision=kind, shift=shift)
        listed.append({"kind": kind, "file": name, "sha256": "", "metric": metric})
    (folder / "export.json").write_text(json.dumps({"file": "model.onnx", "variants": listed}))
    return model

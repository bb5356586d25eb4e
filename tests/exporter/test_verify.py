"""The verification pieces on hand-built ONNX files: each check can fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from ortkit.exporter._verify import TOLERANCES, check_declared, inventory_checks, run_parity
from ortkit.models import TensorSpec

X = TensorSpec("x", "float32", ("batch", "time", 3))


def _identity(path: Path, out_dims: list) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def test_parity_passes_on_a_correct_model_and_fails_on_a_wrong_reference(tmp_path: Path) -> None:
    path = _identity(tmp_path / "m.onnx", ["batch", "time", 3])
    shapes = [("a", 2, 5), ("time=1", 2, 1)]
    rows = run_parity(path, lambda feeds: [feeds["x"]], [X], shapes, TOLERANCES["fp32"])
    assert all(r.ok for r in rows) and rows[0].max_abs == 0.0
    rows = run_parity(path, lambda feeds: [feeds["x"] * 1.01], [X], shapes, TOLERANCES["fp32"])
    assert not any(r.ok for r in rows) and "exceeds atol" in rows[0].error


def test_onnxruntime_warning_is_a_failure(tmp_path: Path) -> None:
    # Declared output time 5: onnxruntime computes other lengths fine but warns; that must fail.
    path = _identity(tmp_path / "m.onnx", ["batch", 5, 3])
    rows = run_parity(path, lambda feeds: [feeds["x"]], [X], [("same", 2, 5), ("other", 2, 7)], TOLERANCES["fp32"])
    assert rows[0].ok
    assert not rows[1].ok and "onnxruntime warned" in rows[1].error and rows[1].max_abs == 0.0


def test_declared_shapes_keep_symbolic_axes() -> None:
    graph_out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16, 3])
    check = check_declared("outputs", [graph_out], [TensorSpec("y", "float32", ("batch", "time", 3))])
    assert not check.ok and "axis 1 (time) declared as 16" in check.detail
    check = check_declared("outputs", [graph_out], [TensorSpec("z", "float32", ("batch", 16, 3))])
    assert not check.ok and "names" in check.detail


def test_inventory_checks() -> None:
    ok = inventory_checks({"LSTM": 2, "Gemm": 1}, 2, (10, 10, 35))
    assert all(c.ok for c in ok)
    bad = inventory_checks({"MatMul": 40, "Tanh": 16}, 1, (56, 120, 35))
    assert [c.ok for c in bad] == [False, False]

"""Fixtures of the profiler tests: small ONNX models built with onnx.helper (no torch), a short
measurement budget, and an interpreter wrapper whose worker crashes or hangs on demand."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ortkit.profiler._spec import Budget


def lstm_model(path: Path, hidden: int = 16, features: int = 4, *, batch: str | int = "batch", time: str | int = "time") -> Path:
    """x (batch, time, features) -> y (batch, hidden): one fused LSTM, last step."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, features)).astype(np.float32) * 0.1, "W")
    r = numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32) * 0.1, "R")
    perm = helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2])
    lstm = helper.make_node("LSTM", ["xt", "W", "R"], ["all", "y_h"], hidden_size=hidden)
    squeeze_axes = numpy_helper.from_array(np.array([0], dtype=np.int64), "axes")
    squeeze = helper.make_node("Squeeze", ["y_h", "axes"], ["y"])
    graph = helper.make_graph(
        [perm, lstm, squeeze], "lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, time, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, hidden])],
        [w, r, squeeze_axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def matmul_model(path: Path, size: int = 64, *, batch: str | int = "batch") -> Path:
    """x (batch, size) -> relu(x @ W): a model without a time axis."""
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((size, size)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Relu", ["h"], ["y"])], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, size])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def failing_model(path: Path) -> Path:
    """Loads and takes x (batch, 8), but its Reshape to 7 elements fails at run time."""
    shape = numpy_helper.from_array(np.array([7], dtype=np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [7])],
        [shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


# Short budgets: tests check behaviour, not performance.
FAST = Budget(warmup_runs=2, warmup_time_s=0.0, min_runs=5, max_runs=200, max_time_s=0.05, concurrency_time_s=0.1)


@pytest.fixture
def misbehaving_python(tmp_path: Path) -> str:
    """An interpreter wrapper that runs the real worker, except for models named crashme
    (a real segfault inside Python), abortme (SIGABRT) or hangme (sleeps past any timeout)."""
    script = tmp_path / "python-wrapper"
    real = sys.executable
    script.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *--environment*) exec "{real}" "$@";; esac\n'
        'if grep -q crashme "$4"; then exec "' + real + '" -c "import ctypes; ctypes.string_at(0)"; fi\n'
        'if grep -q abortme "$4"; then exec "' + real + '" -c "import os; os.abort()"; fi\n'
        'if grep -q hangme "$4"; then exec sleep 60; fi\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.fixture
def fast() -> Budget:
    return FAST


@pytest.fixture
def build() -> SimpleNamespace:
    """Builders of small ONNX models: lstm, matmul, failing (see above)."""
    return SimpleNamespace(lstm=lstm_model, matmul=matmul_model, failing=failing_model)

"""shrink_arena=True gives the CPU arena's memory back after a very large input (measured as RSS
in a fresh process); without it the arena keeps its peak."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = r"""
import gc, sys
import numpy as np, psutil
from onnx import TensorProto, helper
from ortkit.runtime import Runtime

graph = helper.make_graph(
    [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sigmoid", ["r"], ["s"]),
     helper.make_node("ReduceMax", ["s"], ["y"], keepdims=0)],
    "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
rt = Runtime(model.SerializeToString(), "cpu", threads=1, shrink_arena=sys.argv[1] == "1")
proc = psutil.Process()
for _ in range(3):
    rt.run({"x": np.ones(1024, np.float32)})
gc.collect()
base = proc.memory_info().rss
x = np.ones(64 * 2**20, np.float32)  # 256 MiB; the intermediates r and s are 256 MiB each
y = rt.run({"x": x})["y"]
assert abs(float(y) - 0.7310586) < 1e-6, float(y)
del x, y
gc.collect()
rt.run({"x": np.ones(1024, np.float32)})
print((proc.memory_info().rss - base) / 2**20)
"""


def _retained_mib(shrink: bool) -> float:
    out = subprocess.run([sys.executable, "-c", SCRIPT, "1" if shrink else "0"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_shrink_arena_returns_rss_near_baseline() -> None:
    kept = _retained_mib(shrink=False)
    released = _retained_mib(shrink=True)
    assert kept > 200, f"without shrinkage the arena should keep its peak, kept {kept:.0f} MiB"
    assert released < 64, f"with shrink_arena=True RSS stayed {released:.0f} MiB above baseline"

"""ortkit.runtime installs and runs in a fresh environment with numpy, onnx and onnxruntime only."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import importlib.util, sys
import numpy as np
from onnx import TensorProto, helper, numpy_helper
import ortkit
from ortkit.runtime import Runtime, InputError, ModelRejected

assert importlib.util.find_spec("torch") is None, "torch is installed in the test venv"
w = numpy_helper.from_array(np.eye(3, dtype=np.float32) * 2, "W")
graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [w])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
rt = ortkit.Runtime(model.SerializeToString())
y = rt.run({"x": np.ones((2, 3), np.float32)})["y"]
assert (y == 2).all(), y
try:
    rt.run({"x": np.ones((2, 4), np.float32)})
except InputError as error:
    print("input error:", error)
try:
    Runtime(b"garbage")
except ModelRejected as error:
    print("rejected:", error)
print("providers:", rt.providers, "torch loaded:", "torch" in sys.modules)
"""


@pytest.mark.venv
@pytest.mark.slow
def test_runtime_in_a_venv_without_torch(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"

    def pip(*args: str) -> None:
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"pip install {' '.join(args)} failed:\n{done.stderr[-3000:]}")

    pip("numpy", "onnx", "onnxruntime", "setuptools>=68", "wheel")
    # A regular (non-editable) install of a copy of the sources (building in the working tree
    # would leave build/ there), without ortkit's other dependencies.
    source = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("pyproject.toml", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copy(REPO / name, source / name)
    for name in ("app", "base", "runtime", "models", "exporter", "profiler"):
        shutil.copytree(REPO / name, source / name, ignore=skip)
    pip("--no-deps", "--no-build-isolation", str(source))
    done = subprocess.run([str(python), "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "input error: input 'x': expected dim 1 = 3" in done.stdout
    assert "rejected:" in done.stdout
    assert "providers: ['CPUExecutionProvider'] torch loaded: False" in done.stdout

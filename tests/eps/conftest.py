"""Fixtures for the execution-provider tests: an OpenVINO target environment and small zoo-like
ONNX models (2-layer LSTM, GRU, dilated TCN) built with onnx.helper, so these tests need neither
torch nor the exporter.

The OpenVINO environment is ``$ORTKIT_OPENVINO_PYTHON`` when set; otherwise ``<repo>/.venv-openvino``,
created once with `ortkit.profiler.targets.create("openvino")` (one networked pip install, about
450 MB) and reused while it works. CI starts from a clean checkout, so CI creates it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ortkit.profiler import targets

REPO = Path(__file__).resolve().parents[2]
OPENVINO_ENV = REPO / ".venv-openvino"
OPENVINO_EP = "OpenVINOExecutionProvider"


def _usable_openvino(python: Path) -> tuple[bool, str]:
    """Whether ``python`` can run this checkout's ortkit under the OpenVINO EP, and why not."""
    try:
        found = targets.probe(python)
    except targets.TargetError as error:
        return False, str(error)
    if found.problems:
        return False, "; ".join(found.problems)
    if OPENVINO_EP not in found.providers:
        return False, f"no {OPENVINO_EP} (it has {', '.join(found.providers)})"
    # An environment that runs another checkout's ortkit would test stale code.
    if not (found.ortkit_runtime or "").startswith(str(REPO)):
        return False, f"its ortkit is not this checkout's ({found.ortkit_runtime})"
    return True, ""


@pytest.fixture(scope="session")
def openvino_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of an environment with onnxruntime-openvino and this checkout's ortkit."""
    explicit = os.environ.get("ORTKIT_OPENVINO_PYTHON")
    if explicit:
        ok, why = _usable_openvino(Path(explicit))
        if not ok:
            pytest.fail(f"ORTKIT_OPENVINO_PYTHON={explicit} cannot run the OpenVINO tests: {why}")
        return Path(explicit)
    python = OPENVINO_ENV / "bin" / "python"
    if python.exists() and _usable_openvino(python)[0]:
        return python
    shutil.rmtree(OPENVINO_ENV, ignore_errors=True)
    home = tmp_path_factory.mktemp("ortkit-home")
    # Deliberately not skipped on failure: CI has PyPI and must run these tests.
    target = targets.create("openvino", OPENVINO_ENV, name="ci-openvino", home=home)
    ok, why = _usable_openvino(Path(target.python))
    assert ok, why
    return Path(target.python)


# ------------------------------------------------------------------------- zoo-like ONNX models

FEATURES = 8
HIDDEN = 16
OUTPUTS = 3


def _init(rng: np.random.Generator, name: str, *shape: int, scale: float = 0.3) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def _save(graph: onnx.GraphProto, path: Path, family: str) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ortkit-tests")
    model.ir_version = 8  # readable by every onnxruntime from 1.14 on, the OpenVINO build included
    helper.set_model_props(model, {"ortkit.family": family})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


def _sequence_io() -> tuple[onnx.ValueInfoProto, onnx.ValueInfoProto]:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", FEATURES])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", OUTPUTS])
    return x, y


def build_rnn(path: Path, op: str, layers: int = 2, seed: int = 0) -> Path:
    """A stacked LSTM/GRU over (batch, time, features) with a linear head on the last step: the
    shape of the zoo's recurrent classifiers, as the TorchScript exporter writes them."""
    rng = np.random.default_rng(seed)
    gates = {"LSTM": 4, "GRU": 3}[op]
    nodes = [helper.make_node("Transpose", ["x"], ["seq0"], perm=[1, 0, 2])]  # -> (time, batch, feat)
    inits = []
    inp, width = "seq0", FEATURES
    for layer in range(layers):
        w, r, b = f"W{layer}", f"R{layer}", f"B{layer}"
        inits += [
            _init(rng, w, 1, gates * HIDDEN, width),
            _init(rng, r, 1, gates * HIDDEN, HIDDEN),
            _init(rng, b, 1, 2 * gates * HIDDEN, scale=0.1),
        ]
        attrs: dict[str, Any] = {"hidden_size": HIDDEN}
        if op == "GRU":
            attrs["linear_before_reset"] = 1  # what PyTorch's GRU computes
        nodes.append(helper.make_node(op, [inp, w, r, b], [f"Y{layer}"], **attrs))
        # Y: (time, directions=1, batch, hidden) -> (time, batch, hidden)
        nodes.append(helper.make_node("Squeeze", [f"Y{layer}", "axis1"], [f"seq{layer + 1}"]))
        inp, width = f"seq{layer + 1}", HIDDEN
    inits += [
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([-1], np.int64), "last"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        _init(rng, "Wh", HIDDEN, OUTPUTS),
        _init(rng, "bh", OUTPUTS, scale=0.1),
    ]
    nodes += [
        helper.make_node("Gather", [inp, "last"], ["last_step"], axis=0),  # (1, batch, hidden)
        helper.make_node("Squeeze", ["last_step", "axis0"], ["h"]),
        helper.make_node("MatMul", ["h", "Wh"], ["hw"]),
        helper.make_node("Add", ["hw", "bh"], ["y"]),
    ]
    x, y = _sequence_io()
    return _save(helper.make_graph(nodes, f"{op.lower()}{layers}", [x], [y], inits), path, "rnn")


def build_tcn(path: Path, levels: int = 3, kernel: int = 3, seed: int = 1) -> Path:
    """A causal dilated TCN (left-padded Conv1d + ReLU per level, residual adds) with a global
    average pool and a linear head: the zoo's convolutional sequence classifier."""
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Transpose", ["x"], ["c0"], perm=[0, 2, 1])]  # -> (batch, feat, time)
    inits = []
    channels = FEATURES
    for level in range(levels):
        dilation = 2**level
        w, b = f"cw{level}", f"cb{level}"
        inits += [_init(rng, w, HIDDEN, channels, kernel), _init(rng, b, HIDDEN, scale=0.1)]
        nodes.append(
            helper.make_node(
                "Conv", [f"c{level}", w, b], [f"z{level}"], dilations=[dilation],
                pads=[(kernel - 1) * dilation, 0], kernel_shape=[kernel],
            )
        )
        nodes.append(helper.make_node("Relu", [f"z{level}"], [f"r{level}"]))
        if channels == HIDDEN:
            nodes.append(helper.make_node("Add", [f"r{level}", f"c{level}"], [f"c{level + 1}"]))
        else:
            nodes.append(helper.make_node("Identity", [f"r{level}"], [f"c{level + 1}"]))
        channels = HIDDEN
    inits += [_init(rng, "Wh", HIDDEN, OUTPUTS), _init(rng, "bh", OUTPUTS, scale=0.1)]
    nodes += [
        # ReduceMean takes its axes as an attribute before opset 18.
        helper.make_node("ReduceMean", [f"c{levels}"], ["pooled"], axes=[2], keepdims=0),
        helper.make_node("MatMul", ["pooled", "Wh"], ["hw"]),
        helper.make_node("Add", ["hw", "bh"], ["y"]),
    ]
    x, y = _sequence_io()
    return _save(helper.make_graph(nodes, "tcn", [x], [y], inits), path, "cnn")


@pytest.fixture(scope="session")
def zoo_like(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("eps-models")
    return {
        "lstm2": build_rnn(folder / "lstm2.onnx", "LSTM"),
        "gru2": build_rnn(folder / "gru2.onnx", "GRU"),
        "tcn": build_tcn(folder / "tcn.onnx"),
    }


# ------------------------------------------------------------------------- running in a target

_RUN_SCRIPT = r"""
import json, sys
import numpy as np
from ortkit.runtime import Runtime
model, feeds_path, out_path, ep = sys.argv[1:5]
rt = Runtime(model, providers=ep)
outputs = {}
with np.load(feeds_path) as feeds:
    for key in feeds.files:  # one input per shape, named "<index>"
        outputs[key] = rt.run({"x": feeds[key]})["y"]
np.savez(out_path, **outputs)
print("ORTKIT-RESULT " + json.dumps({
    "providers": list(rt.providers),
    "node_assignment": {str(k): int(v) for k, v in dict(rt.node_assignment).items()},
}))
"""


def run_in(python: Path, model: Path, xs: list[np.ndarray], ep: str, folder: Path) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Run ``model`` on each input ``x`` through `ortkit.runtime.Runtime(model, providers=ep)` in a
    subprocess of ``python`` (one session for all inputs).

    Returns the outputs ``y`` in order and what the runtime reported (active providers, node
    assignment). A failure in the subprocess fails the test with its stderr."""
    folder.mkdir(parents=True, exist_ok=True)
    feeds_path, out_path = folder / "feeds.npz", folder / "out.npz"
    np.savez(feeds_path, **{str(i): x for i, x in enumerate(xs)})
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run(
        [str(python), "-c", _RUN_SCRIPT, str(model), str(feeds_path), str(out_path), ep],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("ORTKIT-RESULT "))
    with np.load(out_path) as data:
        outputs = [data[str(i)] for i in range(len(xs))]
    return outputs, json.loads(line[len("ORTKIT-RESULT "):])

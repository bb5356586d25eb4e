"""`ortkit run` and `ortkit inspect` through click's CliRunner, against Runtime's own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from ortkit.cli._main import cli
from ortkit.runtime import Runtime


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    """y = x @ W (x: (batch, time, 4)), n = ReduceSum(t) (t: (2,) int64)."""
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("ReduceSum", ["t"], ["n"], keepdims=0)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 4]),
         helper.make_tensor_value_info("t", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 3]),
         helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    return path


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_run_with_npy_and_random_inputs(model_path: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(3).standard_normal((2, 5, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    result = _invoke("run", str(model_path), "--input", f"x={tmp_path / 'x.npy'}", "--input", "t=random", "--ep", "cpu", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "y: float32 (2, 5, 3)" in result.output and "CPUExecutionProvider" in result.output
    saved = np.load(out)
    expected = Runtime(model_path, "cpu").run({"x": x, "t": np.zeros(2, np.int64)})["y"]
    np.testing.assert_allclose(saved["y"], expected, rtol=1e-6)
    assert saved["n"].dtype == np.int64


def test_run_random_shapes(model_path: Path, tmp_path: Path) -> None:
    result = _invoke("run", str(model_path), "--shape", "x=3,7,4", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "r.npz")["y"].shape == (3, 7, 3)
    result = _invoke("run", str(model_path), "--shape", "batch=2", "--shape", "time=9")
    assert result.exit_code == 0, result.output
    assert "y: float32 (2, 9, 3)" in result.output


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--shape", "x=1,2"], 2, "rank 3"),
        ([], 2, "is symbolic: give --shape x=1,1,4"),
        (["--shape", "x=1,2,4", "--input", "z=random"], 2, "no input named 'z'"),
        (["--shape", "bogus"], 2, "expected NAME=D0,D1"),
        (["--shape", "x=1,2,4", "--ep", "warp-drive"], 1, "unknown EP spec"),
        (["--shape", "x=1,2,4", "--input", "t=/no/such.npy"], 1, "no such file"),
        (["--shape", "x=100000000000,1,4"], 2, "would take 1490.1 GiB"),
        (["--shape", "batch=0", "--shape", "time=3"], 1, "batch is 0"),
        (["--shape", "x=1,2,4", "--shape", "x=1,3,4"], 2, "--shape x is given twice"),
        (["--shape", "x=1,2,4", "--input", "t=random", "--input", "t=random"], 2, "--input t is given twice"),
        (["--shape", "x=1,2,4", "--ep", "cpu+"], 2, "an empty spec in the list"),
        (["--shape", "seq=3"], 2, "no input or symbolic dim of that name (inputs: x, t; symbolic dims: batch, time)"),
    ],
)
def test_run_errors_are_one_line(model_path: Path, args: list[str], code: int, needle: str) -> None:
    result = _invoke("run", str(model_path), *args)
    assert result.exit_code == code, result.output
    assert needle in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_run_wrong_dtype_file(model_path: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 4), np.float64))
    result = _invoke("run", str(model_path), "-i", f"x={tmp_path / 'x.npy'}")
    assert result.exit_code == 1 and "expected dtype float32, got float64" in result.output
    result = _invoke("run", str(model_path), "-i", f"x={tmp_path / 'x.npy'}", "--cast")
    assert result.exit_code == 0, result.output


def test_run_rejects_garbage_model(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"definitely not protobuf \xff\xfe")
    result = _invoke("run", str(bad))
    assert result.exit_code == 1 and "not an ONNX model" in result.output


def test_inspect_text_and_json(model_path: Path) -> None:
    result = _invoke("inspect", str(model_path), "--shape", "batch=2", "--shape", "time=10")
    assert result.exit_code == 0, result.output
    assert "input       x: float32 (batch, time, 4)" in result.output
    assert "FLOPs       482 " in result.output  # MatMul 2 * (2*10*3) * 4, ReduceSum over 2 ints
    result = _invoke("inspect", str(model_path), "--json", "--ep", "cpu", "--shape", "x=1,5,4")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["flops"]["per_op_type"]["MatMul"] == 2 * 5 * 3 * 4
    assert data["parameters"] == 12
    assert data["op_histogram"] == {"MatMul": 1, "ReduceSum": 1}
    assert data["node_assignment"] == {"CPUExecutionProvider": 2}
    assert data["inputs"][1] == {"name": "t", "dtype": "int64", "dims": [2]}
    result = _invoke("inspect", str(model_path))
    assert result.exit_code == 0 and "FLOPs       -" in result.output


def test_run_ep_preference_list_and_inspect_rejections(model_path: Path, tmp_path: Path) -> None:
    from ortkit.runtime._files import parse_providers

    assert parse_providers("cuda:0+cpu") == parse_providers("cuda:0,cpu") == ["cuda:0", "cpu"] and parse_providers("cpu") == "cpu"
    for command in ("run", "inspect"):
        result = _invoke(command, str(model_path), "--shape", "x=1,2,4", "--ep", "cpu+CPUExecutionProvider")
        assert result.exit_code == 1, result.output
        assert "providers name CPUExecutionProvider twice ('cpu' and 'CPUExecutionProvider')" in result.output
    result = _invoke("run", str(model_path), "--shape", "x=1,2,4", "--seed", "-1")  # click's usage error
    assert result.exit_code == 2 and "not in the range" in result.output and "Traceback" not in result.output
    hostile = onnx.load(model_path)
    tensor = hostile.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../secret.bin"
    onnx.save(hostile, tmp_path / "hostile.onnx")
    for command in ("run", "inspect"):
        result = _invoke(command, str(tmp_path / "hostile.onnx"))
        assert result.exit_code == 1, result.output
        assert "initializer 'W': external data location '../secret.bin' climbs out" in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_run_starts_a_streaming_export_from_zero_state(tmp_path: Path) -> None:
    # y = x, h_out = h + sum of x over time: h_out shows which state the run started from.
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"]), helper.make_node("ReduceSum", ["x", "axis"], ["s"], keepdims=0),
         helper.make_node("Add", ["h", "s"], ["h_out"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 2]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 2]),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(np.array([1], np.int64), "axis")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {"ortkit.streaming": "1", "ortkit.streaming.states": json.dumps(
            [{"name": "h", "input": "h", "output": "h_out", "dims": ["batch", 2], "dtype": "float32"}])}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, tmp_path / "s.onnx")
    result = _invoke("run", str(tmp_path / "s.onnx"), "--shape", "x=2,3,2", "--out", str(tmp_path / "out.npz"))
    assert result.exit_code == 0, result.output
    assert "h: float32 (2, 2) from zeros (initial state)" in result.output
    saved = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(saved["h_out"], saved["y"].sum(axis=1), rtol=1e-6)

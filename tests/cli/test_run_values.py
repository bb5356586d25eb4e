"""Issue 11 on `ortkit run`/`inspect`: values back (--print, --out, --json), export folders, the
model's own dim names, strict EPs in inspect, the CLI's own flag names in messages, old spellings
that still work with a warning, and --target."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from ortkit.cli._main import cli
from ortkit.runtime import Runtime


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    """An export-like folder: model.onnx computing y = x @ W with x (batch, time, 4)."""
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 3])], [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder = tmp_path / "export"
    folder.mkdir()
    onnx.save(model, folder / "model.onnx")
    return folder


def _invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def test_run_prints_and_saves_the_values(export_dir: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    expected = Runtime(export_dir / "model.onnx", "cpu").run({"x": x})["y"]
    result = _invoke("run", str(export_dir), "-i", f"x={tmp_path / 'x.npy'}", "--print", "--out", str(tmp_path / "y.npz"))
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("values     y:"))
    assert f"min={expected.min():.6g} max={expected.max():.6g} mean={expected.mean():.6g}" in line
    assert f"first=[{expected.reshape(-1)[0]:.6g}," in line
    np.testing.assert_array_equal(np.load(tmp_path / "y.npz")["y"], expected)
    result = _invoke("run", str(export_dir), "-i", f"x={tmp_path / 'x.npy'}", "--print", "--json", "--threads", "1")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outputs"]["y"]["shape"] == [2, 3, 3]
    assert data["outputs"]["y"]["values"]["max"] == pytest.approx(float(expected.max()))
    assert data["providers"] == ["CPUExecutionProvider"]


def test_inspect_takes_an_export_folder(export_dir: Path) -> None:
    result = _invoke("inspect", str(export_dir), "--json", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inputs"][0]["dims"] == ["batch", "time", 4]
    result = _invoke("run", str(export_dir.parent))  # a folder without model.onnx
    assert result.exit_code == 2 and "a folder without model.onnx" in result.output


@pytest.mark.parametrize("command", ["run", "inspect"])
def test_unknown_dim_names_are_refused_with_the_models_own(export_dir: Path, command: str) -> None:
    result = _invoke(command, str(export_dir), "-s", "seq=3")
    assert result.exit_code == 2, result.output
    assert "--shape seq: the model has no input or symbolic dim of that name (inputs: x; symbolic dims: batch, time)" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="this build has the CUDA EP")
def test_inspect_refuses_an_ep_this_build_lacks_like_run(export_dir: Path) -> None:
    for command in ("run", "inspect"):
        result = _invoke(command, str(export_dir), "--ep", "cuda", "-s", "batch=1", "-s", "time=2")
        assert result.exit_code == 1, (command, result.output)
        assert "is not in this onnxruntime build" in result.output


def test_cast_advice_names_the_cli_flag(export_dir: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 4), np.float64))
    result = _invoke("run", str(export_dir), "-i", f"x={tmp_path / 'x.npy'}")
    assert result.exit_code == 1
    assert "--cast" in result.output and "cast=True" not in result.output


def test_old_spellings_work_with_one_warning(export_dir: Path, tmp_path: Path) -> None:
    result = _invoke("run", str(export_dir), "-s", "batch=1", "-s", "time=2", "--output", str(tmp_path / "old.npz"), "--ep", "cpu,cpu")
    assert result.exit_code == 1  # cpu twice is still an error, after the warning about ','
    result = _invoke("run", str(export_dir), "-s", "batch=1", "-s", "time=2", "-o", str(tmp_path / "old.npz"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "old.npz").is_file()
    assert result.stderr.strip() == "warning: --output/-o is deprecated and will be removed in the next release; use --out"
    result = _invoke("run", str(export_dir), "-s", "batch=1", "-s", "time=2", "-o", "a.npz", "--out", "b.npz")
    assert result.exit_code == 2 and "given under its old and its new name" in result.output


def test_run_and_inspect_in_a_target(export_dir: Path, tmp_path: Path) -> None:
    env = {"ORTKIT_HOME": str(tmp_path / "home")}
    added = _invoke("target", "add", "here", "--python", sys.executable, env=env)
    assert added.exit_code == 0, added.output
    result = _invoke("run", str(export_dir), "--target", "here", "-s", "batch=1", "-s", "time=2", "--print", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outputs"]["y"]["shape"] == [1, 2, 3]
    result = _invoke("inspect", str(export_dir), "--target", "here", "-s", "seq=1", env=env)
    assert result.exit_code == 2 and "no input or symbolic dim of that name" in result.output  # the target's own exit status
    result = _invoke("run", str(export_dir), "--target", "nope", env=env)
    assert result.exit_code == 1 and "nope" in result.output


def test_no_cli_message_names_a_python_argument(export_dir: Path, tmp_path: Path) -> None:
    from ortkit.cli._main import CLI_ADVICE, CommandFailed
    from ortkit.runtime import ProviderUnavailable

    for python, cli_words in CLI_ADVICE.items():
        assert cli_words in CommandFailed(ProviderUnavailable(f"x {python} y")).message
    result = _invoke("target", "add", "here", "--python", sys.executable, env={"ORTKIT_HOME": str(tmp_path)})
    result = _invoke("target", "add", "here", "--python", sys.executable, env={"ORTKIT_HOME": str(tmp_path)})
    assert result.exit_code != 0 and "--replace" in result.output and "replace=True" not in result.output

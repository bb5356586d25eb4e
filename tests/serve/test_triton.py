"""The Triton model repository: config.pbtxt parsed into Triton's own ModelConfig message."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner
from google.protobuf import text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2 as mc

from ortkit.cli import cli
from ortkit.serve import ServeError, TritonOptions, write_triton_repository


def _config(path: Path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())


def test_batched_model(model_files: dict[str, Path], tmp_path: Path) -> None:
    written = write_triton_repository(model_files["mlp"], tmp_path / "repo", options=TritonOptions(max_batch=16, instances=2, threads=3))
    assert written.model.read_bytes() == model_files["mlp"].read_bytes()
    assert written.model == tmp_path / "repo" / "mlp" / "1" / "model.onnx"
    config = _config(written.config)
    assert config.name == "mlp" and config.backend == "onnxruntime" and config.max_batch_size == 16
    (x,) = config.input
    assert (x.name, x.data_type, list(x.dims)) == ("x", mc.TYPE_FP32, [4])  # batch is implicit
    assert config.HasField("dynamic_batching") and config.dynamic_batching.max_queue_delay_microseconds == 100
    assert not config.HasField("sequence_batching")
    (group,) = config.instance_group
    assert group.count == 2 and group.kind == mc.ModelInstanceGroup.KIND_CPU
    assert config.parameters["intra_op_thread_count"].string_value == "3"
    assert config.parameters["inter_op_thread_count"].string_value == "1"


def test_streaming_model_gets_sequence_batching_with_implicit_state(model_files: dict[str, Path], tmp_path: Path) -> None:
    config = _config(write_triton_repository(model_files["gru"], tmp_path / "repo").config)
    assert config.name == "gru-streaming"
    assert [(t.name, list(t.dims)) for t in config.input] == [("x", [-1, 5])]  # time is -1; h is state
    assert [(t.name, list(t.dims)) for t in config.output] == [("y", [-1, 3])]
    assert not config.HasField("dynamic_batching")
    seq = config.sequence_batching
    assert seq.HasField("oldest") and seq.oldest.max_candidate_sequences == 32
    (state,) = seq.state
    assert (state.input_name, state.output_name, list(state.dims)) == ("h", "h_out", [1, 16])
    (initial,) = state.initial_state
    assert initial.zero_data and list(initial.dims) == [1, 16] and initial.data_type == mc.TYPE_FP32


def test_batch_not_first_turns_triton_batching_off(tmp_path: Path) -> None:
    model = helper.make_model(
        helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["time", "batch", 8])]),
        opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "tb.onnx")
    config = _config(write_triton_repository(tmp_path / "tb.onnx", tmp_path / "repo").config)
    assert config.max_batch_size == 0 and list(config.input[0].dims) == [-1, -1, 8]
    assert not config.HasField("dynamic_batching")


def test_cli(model_files: dict[str, Path], tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = CliRunner().invoke(cli, ["triton", str(model_files["mlp"]), str(repo), "--name", "m", "--max-batch", "8"])
    assert result.exit_code == 0, result.output
    assert "tritonserver --model-repository" in result.output
    assert _config(repo / "m" / "config.pbtxt").max_batch_size == 8
    (repo / "other").mkdir()
    result = CliRunner().invoke(cli, ["triton", str(model_files["mlp"]), str(repo), "--name", "other"])
    assert result.exit_code == 2 and "holds no config.pbtxt" in result.output
    with pytest.raises(ServeError):
        TritonOptions(kind="KIND_TPU")

"""A Triton repository written from a tuned profile: its choice becomes the onnxruntime backend's
parameters (parsed with Triton's own ModelConfig message) and the variant file that won is copied."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from google.protobuf import text_format
from onnxruntime.quantization import QuantType, quantize_dynamic
from tritonclient.grpc import model_config_pb2 as mc

from ortkit.base import file_sha256
from ortkit.cli import cli
from ortkit.runtime import SessionSettings, TunedChoice, TunedProfile, TunedProfileMismatch, TunedTarget
from ortkit.serve import ServeError, TritonOptions, write_triton_repository

SMALL = SessionSettings(threads=1, spinning=False)
LARGE = SessionSettings(threads=2, execution_mode="parallel", inter_op_threads=2, optimization="extended",
                        cpu_arena=False, memory_pattern=False)


def _profile(model: Path, tmp_path: Path) -> tuple[Path, Path]:
    variant = tmp_path / "mlp.int8.onnx"
    quantize_dynamic(str(model), str(variant), weight_type=QuantType.QInt8)
    sha = file_sha256(model)
    profile = TunedProfile(model_sha256=sha, target=TunedTarget.here(), model_label="mlp", choices=(
        TunedChoice(shapes=((1, None),), ep="cpu", settings=SMALL, model_sha256=sha),
        TunedChoice(shapes=((16, None),), ep="cpu", settings=LARGE, model_sha256=file_sha256(variant),
                    precision="int8-dynamic", model_file=variant.name),
    ))
    return profile.save(tmp_path / "mlp.tuned.json"), variant


def _config(path: Path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())


def test_the_choice_for_max_batch_becomes_backend_parameters(model_files: dict[str, Path], tmp_path: Path) -> None:
    profile, variant = _profile(model_files["mlp"], tmp_path)
    written = write_triton_repository(model_files["mlp"], tmp_path / "repo", options=TritonOptions(max_batch=16, tuned=str(profile)))
    assert written.model.read_bytes() == variant.read_bytes() and written.tuned is not None
    config = _config(written.config)
    params = {k: v.string_value for k, v in config.parameters.items()}
    assert params == {"intra_op_thread_count": "2", "inter_op_thread_count": "2", "execution_mode": "1",
                      "enable_mem_arena": "0", "enable_mem_pattern": "0"}
    assert config.optimization.graph.level == 1 and written.not_carried == ()
    small = write_triton_repository(model_files["mlp"], tmp_path / "repo1", options=TritonOptions(max_batch=1, tuned=str(profile)))
    assert small.model.read_bytes() == model_files["mlp"].read_bytes()
    assert not _config(small.config).optimization.HasField("graph")  # "all" is the backend's default
    assert "spinning" in small.not_carried[0]


def test_refusals(model_files: dict[str, Path], tmp_path: Path) -> None:
    profile, _ = _profile(model_files["mlp"], tmp_path)
    with pytest.raises(TunedProfileMismatch, match="not this model"):
        write_triton_repository(model_files["gru"], tmp_path / "repo", options=TritonOptions(tuned=str(profile)))
    with pytest.raises(ServeError, match="do not pass threads"):
        TritonOptions(threads=4, tuned=str(profile))
    result = CliRunner().invoke(cli, ["triton", str(model_files["mlp"]), str(tmp_path / "r"), "--tuned", str(profile), "--threads", "2"])
    assert result.exit_code == 2 and "do not pass --threads" in result.output
    result = CliRunner().invoke(cli, ["triton", str(model_files["mlp"]), str(tmp_path / "r"), "--tuned", str(profile), "--max-batch", "1"])
    assert result.exit_code == 0, result.output
    assert "tuned: cpu, 1 thread, no spinning, fp32" in result.output and "warning: the onnxruntime backend has no parameter" in result.output


@pytest.mark.parametrize("ep, field, name, kind", [
    ("openvino:CPU", "cpu_execution_accelerator", "openvino", mc.ModelInstanceGroup.KIND_CPU),
    ("cuda:0", "gpu_execution_accelerator", "cuda", mc.ModelInstanceGroup.KIND_GPU),
])
def test_an_ep_choice_becomes_an_execution_accelerator(model_files: dict[str, Path], tmp_path: Path, ep: str, field: str,
                                                       name: str, kind: int) -> None:
    sha = file_sha256(model_files["mlp"])
    choice = TunedChoice(shapes=((1, None),), ep=ep, settings=SessionSettings(threads=1), model_sha256=sha, ep_options=(("k", "v"),))
    profile = TunedProfile(model_sha256=sha, target=TunedTarget.here(), choices=(choice,)).save(tmp_path / "p.json")
    config = _config(write_triton_repository(model_files["mlp"], tmp_path / "repo", options=TritonOptions(tuned=str(profile))).config)
    (accelerator,) = getattr(config.optimization.execution_accelerators, field)
    assert accelerator.name == name and dict(accelerator.parameters) == {"k": "v"}
    assert config.instance_group[0].kind == kind
    other = TunedProfile(model_sha256=sha, target=TunedTarget.here(), choices=(TunedChoice(
        shapes=((1, None),), ep="tensorrt", settings=SessionSettings(), model_sha256=sha),)).save(tmp_path / "trt.json")
    with pytest.raises(ServeError, match="cannot write into a Triton config"):
        write_triton_repository(model_files["mlp"], tmp_path / "repo2", options=TritonOptions(tuned=str(other)))

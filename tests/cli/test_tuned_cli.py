"""``--tuned PROFILE.json`` on `ortkit run` and `ortkit profile`: real sessions and workers, a
real SQLite store, and one-line errors for every bad profile."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from ortkit.base import file_sha256
from ortkit.cli._main import cli
from ortkit.runtime import SessionSettings, TunedChoice, TunedGain, TunedProfile, TunedTarget

SMALL = SessionSettings(threads=1, spinning=False)
LARGE = SessionSettings(threads=1, memory_pattern=False, optimization="extended")


def _model(path: Path, seed: int = 0) -> Path:
    w = numpy_helper.from_array(np.random.default_rng(seed).standard_normal((8, 8)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 8])], [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture
def tuned(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The model, its int8 variant (the choice at batch 2) and the profile file."""
    model = _model(tmp_path / "mm.onnx")
    variant = tmp_path / "mm.int8.onnx"
    quantize_dynamic(str(model), str(variant), weight_type=QuantType.QInt8)
    sha = file_sha256(model)
    profile = TunedProfile(model_sha256=sha, target=TunedTarget.here(), model_label="mm", choices=(
        TunedChoice(shapes=((1, 4),), ep="cpu", settings=SMALL, model_sha256=sha, gain=TunedGain(1.25, 1.1, 1.4, rounds=8)),
        TunedChoice(shapes=((2, 4),), ep="cpu", settings=LARGE, model_sha256=file_sha256(variant), precision="int8-dynamic",
                    model_file=variant.name),
    ))
    return model, variant, profile.save(tmp_path / "mm.tuned.json")


def _invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_run_tuned_uses_the_choice_for_the_shape(tuned: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, variant, profile = tuned
    for batch, want_file, words in ((1, model, "gain 1.25x"), (2, variant, "int8-dynamic")):
        out = tmp_path / f"tuned{batch}.npz"
        ref = tmp_path / f"ref{batch}.npz"
        result = _invoke("run", model, "--tuned", profile, "--shape", f"batch={batch}", "--shape", "time=4", "--out", out)
        assert result.exit_code == 0, result.output
        assert "tuned" in result.output and words in result.output
        assert _invoke("run", want_file, "--ep", "cpu", "--shape", f"batch={batch}", "--shape", "time=4", "--out", ref).exit_code == 0
        np.testing.assert_array_equal(np.load(out)["y"], np.load(ref)["y"])
    data = json.loads(_invoke("run", model, "--tuned", profile, "--shape", "batch=1", "--shape", "time=4", "--json").output)
    assert data["tuned"].startswith("cpu, 1 thread, no spinning, fp32")


def test_profile_tuned_measures_each_shape_with_its_choice(tuned: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, variant, profile = tuned
    args = ["profile", model, "--tuned", profile, "--batch", "1,2", "--time", "4", "--max-time", "0.05", "--processes", "1",
            "--db", tmp_path / "r.db"]
    result = _invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    rows = {r["spec"]["batch"]: r for r in json.loads(result.output)["results"]}
    assert [r["status"] for r in rows.values()] == ["ok", "ok"]
    small, large = rows[1]["spec"], rows[2]["spec"]
    assert ["tuned", "1"] in small["tags"] and ["tuned", "1"] in large["tags"]
    assert small["session"] == [list(p) for p in SMALL.extra()] and small["model_sha256"] == file_sha256(model)
    assert (large["optimization"], large["precision"], large["model_sha256"]) == ("extended", "int8-dynamic", file_sha256(variant))
    table = _invoke(*args)
    assert table.exit_code == 0, table.output
    assert "cpu tuned" in table.output and "tuned int8-dynamic" in table.output and "resumed 2" in table.output


def test_every_bad_profile_is_one_line(tuned: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, variant, profile = tuned
    other = _model(tmp_path / "other.onnx", seed=5)
    elsewhere = tmp_path / "elsewhere.json"
    data = json.loads(profile.read_text())
    data["target"]["cpu"] = "Another CPU"
    elsewhere.write_text(json.dumps(data))
    damaged = tmp_path / "damaged.json"
    damaged.write_text(profile.read_text()[:100])
    db = tmp_path / "r.db"
    shape = ("--shape", "batch=1", "--shape", "time=4")
    cases = [
        (("run", other, "--tuned", profile, *shape), 1, f"not this model {file_sha256(other)[:12]}"),
        (("run", model, "--tuned", elsewhere, *shape), 1, "measured on Another CPU"),
        (("run", model, "--tuned", damaged, *shape), 1, "not readable JSON"),
        (("run", model, "--tuned", tmp_path / "none.json", *shape), 1, "does not exist"),
        (("run", model, "--tuned", profile, "--ep", "cpu", *shape), 2, "do not pass --ep"),
        (("profile", other, "--tuned", profile, "--time", "4", "--db", db), 1, f"model {file_sha256(model)[:12]}"),
        (("profile", model, "--tuned", damaged, "--time", "4", "--db", db), 1, "not readable JSON"),
        (("profile", model, "--tuned", profile, "--threads", "1", "--time", "4", "--db", db), 2, "do not pass --ep or --threads"),
    ]
    for args, code, message in cases:
        result = _invoke(*args)
        assert result.exit_code == code, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    variant.write_bytes(variant.read_bytes() + b"\0")
    result = _invoke("run", model, "--tuned", profile, "--shape", "batch=2", "--shape", "time=4")
    assert result.exit_code == 1 and "changed since tuning" in result.output
    variant.unlink()
    result = _invoke("profile", model, "--tuned", profile, "--batch", "2", "--time", "4", "--db", db)
    assert result.exit_code == 1 and "is missing" in result.output


def test_a_choice_describes_itself_in_one_line() -> None:
    choice = TunedChoice(shapes=((1, None),), ep="cpu", settings=SMALL, model_sha256="a" * 64, ep_options=(("k", "v"),))
    assert choice.describe() == "cpu, k=v, 1 thread, no spinning, fp32"
    assert dataclasses.replace(choice, precision="fp16", gain=TunedGain(2.0, 1.5, 2.5)).describe().endswith("fp16, gain 2.00x [1.50, 2.50]")

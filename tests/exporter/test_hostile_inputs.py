"""Malformed and hostile input (issue 3, item 7 and beyond): --input strings, checkpoint files that
are not what they claim, hostile manifests, bad --out folders. Each is refused with one line
(OrtkitError), nothing is allocated or executed on the hostile file's say-so, and an earlier
export in the folder survives."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ortkit.base import OrtkitError, UsageError
from ortkit.exporter import SourceError, export, load_state_dict_file, parse_input_spec
from ortkit.exporter._input_specs import parse_input_specs
from ortkit.models import Manifest, TensorSpec, create_model, save_checkpoint

GRU = {"hidden_size": 4}


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text and len(text) < 1000, text
    return text


@pytest.mark.parametrize("text,expected", [
    ("x:float33:batch", "dtype 'float33'"),
    ("x:float32", "expected NAME:DTYPE:DIM"),
    ("x:float32:", "expected NAME:DTYPE:DIM"),
    ("x::batch,4", "expected NAME:DTYPE:DIM"),
    ("x:float32:batch,,4", "dim ''"),
    ("x:float32:batch,-3", "dim '-3'"),
    ("x:float32:batch,0", "outside"),
    ("x:float32:batch,99999999999", "outside"),
    ("x:float32:batch,seq,4", "write 'time'"),
    ("x:float32:N,time,4", "write 'batch'"),
    ("x:float32:batch,time,time", "once"),
    ("x:float32:" + ",".join(["2"] * 9), "rank 9"),
    ("1x:float32:4", "not a valid tensor name"),
    ("x:float32:batch,time,4:extra", "expected NAME:DTYPE:DIM"),
    ("x:float32:batch,tïme", "dim 'tïme'"),
])
def test_malformed_input_specs_are_usage_errors(text: str, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_input_spec(text)
    assert expected in _one_line(caught.value)


def test_input_specs_accept_named_dims_and_refuse_duplicates() -> None:
    assert parse_input_spec("x:float32:batch,3,H,W") == TensorSpec("x", "float32", ("batch", 3, "H", "W"))
    with pytest.raises(UsageError) as caught:
        parse_input_specs(["x:float32:batch,time,4", "x:float32:batch,3"])
    assert "'x' given more than once" in _one_line(caught.value)


def test_an_input_too_large_to_verify_is_refused_before_any_work(tmp_path: Path) -> None:
    factory = tmp_path / "f.py"
    factory.write_text("import torch\ndef build():\n    return torch.nn.Identity()\n")
    with pytest.raises(UsageError) as caught:
        export(f"{factory}:build", tmp_path / "o", inputs=["x:float32:batch,time,4096,1024"])
    assert "elements" in _one_line(caught.value)
    assert not (tmp_path / "o").exists()


def _gru_state() -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in create_model("gru", **GRU).state_dict().items()}


def test_checkpoint_files_that_are_not_what_they_claim(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "notorch.pt", "w") as archive:
        archive.writestr("hello.txt", "a zip, but not a torch file")
    save_file(_gru_state(), str(tmp_path / "good.safetensors"))
    data = (tmp_path / "good.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 40, 1 << 20], "data_offsets": [0, 4]}}).encode()
    (tmp_path / "huge.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    for name, expected in [("notorch.pt", "not a torch checkpoint"), ("truncated.safetensors", "not a readable safetensors"),
                           ("huge.safetensors", "not a readable safetensors"), ("list.pt", "holds no state dict")]:
        with pytest.raises(SourceError) as caught:
            load_state_dict_file(tmp_path / name)
        assert expected in _one_line(caught.value), name
    with pytest.raises(SourceError) as caught:
        load_state_dict_file(tmp_path)
    assert "not a file" in _one_line(caught.value)
    # safetensors content is recognised by its header, whatever the file is called
    (tmp_path / "weights.bin").write_bytes(data)
    assert set(load_state_dict_file(tmp_path / "weights.bin")) == set(_gru_state())


def test_safetensors_with_wrong_dtypes_shapes_or_values(tmp_path: Path) -> None:
    state = _gru_state()
    cases = {
        "int64": ({k: v.to(torch.int64) for k, v in state.items()}, "dtype mismatch"),
        "shape": ({**state, "rnn.weight_ih_l0": torch.zeros(3, 3)}, "shape mismatch"),
        "nan": ({**state, "head.bias": torch.full_like(state["head.bias"], float("nan"))}, "NaN or infinite"),
    }
    for name, (tensors, expected) in cases.items():
        save_file(tensors, str(tmp_path / f"{name}.safetensors"))
        with pytest.raises(SourceError) as caught:
            export("gru", tmp_path / name, overrides=GRU, checkpoint=tmp_path / f"{name}.safetensors")
        assert expected in _one_line(caught.value), name
        assert not (tmp_path / name).exists()
    # float16 weights widen to float32 exactly: accepted, and the export matches them
    save_file({k: v.half() for k, v in state.items()}, str(tmp_path / "half.safetensors"))
    result = export("gru", tmp_path / "half", overrides=GRU, checkpoint=tmp_path / "half.safetensors")
    assert result.source["trained"] and result.verification.ok


def _checkpoint(tmp_path: Path, **manifest_changes: object) -> Path:
    model = create_model("gru", **GRU)
    manifest = Manifest(model="gru", overrides=dict(GRU), task="seq-digits", task_options={}, metric_name="accuracy",
                        metric_value=0.0, higher_is_better=True, seed=0, training_seconds=0.0, epochs=0, steps=0,
                        parameters=sum(p.numel() for p in model.parameters()), versions={})
    folder = save_checkpoint(tmp_path / "ckpt", model, manifest)
    if manifest_changes:
        path = folder / "manifest.json"
        data = json.loads(path.read_text())
        for key, value in manifest_changes.items():
            if key == "raw":
                path.write_text(str(value))
                return folder
            data[key] = value
        path.write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("changes,expected", [
    ({"overrides": {"hidden_size": 10**12}}, "hidden_size=1000000000000 is invalid, expected an integer <= 1048576"),
    ({"overrides": {"hidden_size": 4, "num_layers": 10**6}}, "num_layers=1000000 is invalid, expected an integer <= 32"),
    ({"overrides": {"hidden_size": 4096}}, "far larger than its weights"),
    ({"overrides": {"hidden_size": "4; rm -rf /"}}, "hidden_size"),
    ({"overrides": {"hidden_size": 1e308}}, "hidden_size"),
    ({"model": "../../etc/passwd"}, "unknown model"),
    ({"task": "../../etc/passwd"}, "unknown task"),
    ({"epochs": "many"}, "wrong type"),
    ({"raw": "{\"a\": " + "[" * 100000 + "]" * 100000 + "}"}, "nested too deeply"),
    ({"raw": "not json"}, "not valid JSON"),
])
def test_hostile_manifest_is_refused_in_one_line(tmp_path: Path, changes: dict, expected: str) -> None:
    folder = _checkpoint(tmp_path, **changes)
    with pytest.raises(OrtkitError) as caught:
        export(str(folder), tmp_path / "o", int8="static" if "task" in changes else None)
    assert expected in _one_line(caught.value)
    assert not (tmp_path / "o").exists()


def test_a_folder_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    for source in (tmp_path / "notes", tmp_path / "notes" / "readme.txt"):
        with pytest.raises(SourceError) as caught:
            export(str(source), tmp_path / "o")
        assert "not an ortkit checkpoint" in _one_line(caught.value)


def test_out_is_a_file_or_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("keep me")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        with pytest.raises(UsageError) as caught:
            export("gru", out, overrides=GRU)
        assert "is a file" in _one_line(caught.value)
    assert (tmp_path / "file").read_text() == "keep me"


def test_failed_export_keeps_the_previous_export_and_a_new_one_drops_stale_variants(tmp_path: Path) -> None:
    out = tmp_path / "out"
    export("gru", out, overrides=GRU, fp16=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"model.onnx", "model.fp16.onnx", "export.json"}
    (tmp_path / "nan.safetensors").write_bytes(b"")
    state = _gru_state()
    save_file({**state, "head.bias": torch.full_like(state["head.bias"], float("inf"))}, str(tmp_path / "inf.safetensors"))
    with pytest.raises(SourceError):
        export("gru", out, overrides=GRU, checkpoint=tmp_path / "inf.safetensors")
    with pytest.raises(OrtkitError):
        export("bilstm", out, overrides=GRU, streaming=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # A successful export without --fp16 must not leave the old model.fp16.onnx beside a new model.onnx.
    result = export("gru", out, overrides={"hidden_size": 6})
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.onnx"]
    assert json.loads((out / "export.json").read_text())["sha256"] == result.sha256

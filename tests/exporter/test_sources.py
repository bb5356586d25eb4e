"""Bad input (issue 3, item 7): each a one-line OrtkitError; pickle payloads never execute."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ortkit.base import OrtkitError, UsageError
from ortkit.exporter import SourceError, UnsafeCheckpoint, export, load_state_dict_file, parse_input_spec
from ortkit.models import TensorSpec


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and text
    return text


def test_parse_input_spec() -> None:
    assert parse_input_spec("x:float32:batch,time,64") == TensorSpec("x", "float32", ("batch", "time", 64))
    for bad in ("x:float32", "x:complex:batch", "x:float32:batch,seq", "1x:float32:4", "x:float32:0"):
        with pytest.raises(UsageError):
            parse_input_spec(bad)


def test_user_factory_with_safetensors_checkpoint(tmp_path: Path, user_models: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(5)
    import importlib.util

    spec = importlib.util.spec_from_file_location("um", user_models)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    trained = module.SeqLSTM()
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(tmp_path / "w.safetensors"))
    result = export(f"{user_models}:seq_lstm", tmp_path / "out", inputs=["x:float32:batch,time,4"],
                    checkpoint=tmp_path / "w.safetensors")
    assert result.source["trained"] and result.source["checkpoint_sha256"]
    assert result.spec.outputs[0].dims == ("batch", "time", 3)
    assert result.spec.recurrent_layers == 2 and result.spec.family == "rnn"
    assert not result.warnings


def test_torch_state_dict_checkpoint_for_a_zoo_model(tmp_path: Path) -> None:
    from ortkit.models import create_model

    model = create_model("gru", hidden_size=8)
    torch.save(model.state_dict(), tmp_path / "gru.pt")
    result = export("gru", tmp_path / "out", overrides={"hidden_size": 8}, checkpoint=tmp_path / "gru.pt")
    assert result.source["trained"] is True and result.source["origin"] == "zoo"


def test_missing_checkpoint(tmp_path: Path, user_models: Path) -> None:
    with pytest.raises(SourceError) as caught:
        export(f"{user_models}:seq_lstm", tmp_path / "o", inputs=["x:float32:batch,time,4"], checkpoint=tmp_path / "nope.pt")
    assert "does not exist" in _one_line(caught.value)


@pytest.mark.parametrize("content", [b"garbage\x00\x01 not a checkpoint", "truncated-zip"])
def test_corrupt_checkpoint(tmp_path: Path, content: object) -> None:
    path = tmp_path / "bad.pt"
    if content == "truncated-zip":
        torch.save({"w": torch.zeros(3)}, path)
        path.write_bytes(path.read_bytes()[:120])
    else:
        path.write_bytes(content)  # type: ignore[arg-type]
    with pytest.raises(SourceError) as caught:
        load_state_dict_file(path)
    assert not isinstance(caught.value, UnsafeCheckpoint)
    assert "corrupt" in _one_line(caught.value)
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(SourceError):
        load_state_dict_file(tmp_path / "bad.safetensors")


def test_state_dict_key_mismatch_lists_missing_and_unexpected(tmp_path: Path, user_models: Path) -> None:
    state = {"rnn.weight_ih_l0": torch.zeros(32, 4), "extra.weight": torch.zeros(1)}
    torch.save(state, tmp_path / "wrong.pt")
    with pytest.raises(SourceError) as caught:
        export(f"{user_models}:seq_lstm", tmp_path / "o", inputs=["x:float32:batch,time,4"], checkpoint=tmp_path / "wrong.pt")
    message = _one_line(caught.value)
    assert "missing keys: rnn.weight_hh_l0" in message and "head.weight" in message
    assert "unexpected keys: extra.weight" in message


def test_factory_not_found(tmp_path: Path, user_models: Path) -> None:
    with pytest.raises(SourceError) as caught:
        export(f"{user_models}:no_such_factory", tmp_path / "o", inputs=["x:float32:batch,time,4"])
    message = _one_line(caught.value)
    assert "'no_such_factory' not found" in message and "seq_lstm" in message
    with pytest.raises(SourceError) as caught:
        export("json:no_such_factory", tmp_path / "o", inputs=["x:float32:batch,time,4"])
    assert "not found in 'json'" in _one_line(caught.value)
    with pytest.raises(SourceError):
        export("ortkit_no_such_pkg.mod:f", tmp_path / "o", inputs=["x:float32:batch,time,4"])
    with pytest.raises(SourceError):
        export(str(tmp_path / "absent.py") + ":f", tmp_path / "o", inputs=["x:float32:batch,time,4"])


def test_user_model_without_inputs_is_told_how(tmp_path: Path, user_models: Path) -> None:
    with pytest.raises(UsageError) as caught:
        export(f"{user_models}:seq_lstm", tmp_path / "o")
    assert "--input" in _one_line(caught.value)


def _evil_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    code = textwrap.dedent(f"""
        import os, torch
        class Payload:
            def __reduce__(self):
                return (os.system, ("touch {marker}",))
        torch.save({{"head.weight": torch.zeros(3, 8), "payload": Payload()}}, {str(tmp_path / 'evil.pt')!r})
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    assert not marker.exists()
    return tmp_path / "evil.pt", marker


def test_pickle_payload_is_refused_and_never_runs(tmp_path: Path, user_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evil, marker = _evil_checkpoint(tmp_path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(UnsafeCheckpoint) as caught:
        export(f"{user_models}:seq_lstm", tmp_path / "o", inputs=["x:float32:batch,time,4"], checkpoint=evil)
    message = _one_line(caught.value)
    assert "refused" in message and "system" in message
    assert isinstance(caught.value, OrtkitError)
    assert not marker.exists()
    assert not (tmp_path / "o").exists()


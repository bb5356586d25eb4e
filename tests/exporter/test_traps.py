"""The exporter traps (docs/exporter.md), forced on purpose, are caught; a failed export leaves nothing
that looks valid; `auto` falls back and records why."""

from __future__ import annotations

from pathlib import Path

import pytest

from ortkit.exporter import UnsupportedModel, VerificationFailed, export

from .conftest import small_overrides


def _nothing_valid_left(folder: Path) -> None:
    assert not folder.exists() or not any(folder.iterdir()), list(folder.iterdir())


@pytest.mark.slow
def test_dynamo_on_rnn_freezes_time_and_is_caught(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(VerificationFailed) as caught:
        export("rnn", out, overrides=small_overrides("rnn"), exporter="dynamo")
    table = caught.value.table
    # The frozen axis is seen three ways: declared shape, op inventory (unrolled), parity.
    assert "FAIL  declared inputs" in table and "(time) declared as 16, not symbolic" in table
    assert "FAIL  fused recurrent nodes" in table and "0 fused" in table
    assert "FAIL  parity time=1" in table and "FAIL  parity long time" in table
    assert "\n" not in str(caught.value)
    _nothing_valid_left(out)


@pytest.mark.slow
def test_dynamo_on_lstm_bakes_the_output_time_and_is_caught(tmp_path: Path, user_models: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(VerificationFailed) as caught:
        export(f"{user_models}:seq_lstm", out, inputs=["x:float32:batch,time,4"], exporter="dynamo")
    table = caught.value.table
    assert "FAIL  declared outputs" in table and "y axis 1 (time) declared as 16" in table
    # onnxruntime itself only warns about the wrong declared shape: that warning fails parity.
    assert "onnxruntime warned" in table and "VerifyOutputSizes" in table
    assert "ok    fused recurrent nodes" in table  # the LSTM is fused: only shapes betray it
    _nothing_valid_left(out)


def test_traced_length_branch_is_caught_at_other_lengths(tmp_path: Path, user_models: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(VerificationFailed) as caught:
        export(f"{user_models}:length_branch", out, inputs=["x:float32:batch,time,4"], exporter="torchscript")
    table = caught.value.table
    assert "FAIL  parity long time" in table
    assert "ok    parity example" in table and "ok    parity time=1" in table
    _nothing_valid_left(out)


def test_failed_export_keeps_an_earlier_valid_folder_untouched(tmp_path: Path, user_models: Path) -> None:
    out = tmp_path / "out"
    first = export("gru", out, overrides=small_overrides("gru"))
    before = first.model_path.read_bytes()
    with pytest.raises(VerificationFailed):
        export(f"{user_models}:length_branch", out, inputs=["x:float32:batch,time,4"], exporter="torchscript")
    assert first.model_path.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.onnx"]


@pytest.mark.slow
def test_auto_falls_back_to_dynamo_and_records_the_reason(tmp_path: Path, user_models: Path) -> None:
    result = export(f"{user_models}:spectral", tmp_path, inputs=["x:float32:batch,time,4"])
    assert result.exporter == "dynamo"
    first, second = result.attempts
    assert (first.exporter, first.ok) == ("torchscript", False)
    assert "aten::fft_rfft" in first.reason
    assert (second.exporter, second.ok) == ("dynamo", True)
    assert result.to_dict()["attempts"][0]["reason"] == first.reason


def test_op_no_exporter_handles_is_one_summarised_line(tmp_path: Path, user_models: Path) -> None:
    with pytest.raises(UnsupportedModel) as caught:
        export(f"{user_models}:mystery_model", tmp_path / "out", inputs=["x:float32:batch,time,4"], exporter="torchscript")
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400
    assert "mystery" in message and "torchscript" in message
    _nothing_valid_left(tmp_path / "out")

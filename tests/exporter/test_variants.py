"""FP16, INT8 (dynamic, static QDQ), offline-optimized variants: each verified, each reporting
what it changed; before/after task metric for trained checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from ortkit.base import UsageError
from ortkit.exporter import export
from ortkit.exporter._verify import op_inventory

from .conftest import small_overrides


def _meta(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_fp16_both_io_modes(tmp_path: Path) -> None:
    result = export("gru", tmp_path / "a", overrides=small_overrides("gru"), fp16=True)
    (variant,) = result.variants
    assert variant.kind == "fp16" and variant.verification.ok
    assert variant.verification.parity[0].tolerance.atol > 1e-4  # fp16 tolerance, not fp32's
    session = ort.InferenceSession(str(result.out_dir / variant.file), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float16)"
    assert _meta(result.out_dir / variant.file)["ortkit.precision"] == "fp16"

    kept = export("gru", tmp_path / "b", overrides=small_overrides("gru"), fp16=True, fp16_io="fp32").variants[0]
    session = ort.InferenceSession(str(tmp_path / "b" / kept.file), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"
    assert kept.changes["io_dtype"] == "float32" and kept.changes["ops"]["Cast"]["after"] >= 2


def test_int8_dynamic_lstm_becomes_dynamic_quantize_lstm(tmp_path: Path) -> None:
    result = export("lstm", tmp_path, overrides=small_overrides("lstm", num_layers=2), int8="dynamic")
    (variant,) = result.variants
    assert variant.verification.ok
    inventory = op_inventory(onnx.load(str(tmp_path / variant.file)))
    assert inventory["DynamicQuantizeLSTM"] == 2 and "LSTM" not in inventory
    assert variant.changes["quantized_recurrent"] == 2 and variant.changes["float_recurrent"] == {}
    assert _meta(tmp_path / variant.file)["ortkit.precision"] == "int8-dynamic"
    assert variant.metric is None  # random weights: no task metric to compare


def test_int8_dynamic_says_gru_stays_float(tmp_path: Path) -> None:
    variant = export("gru", tmp_path, overrides=small_overrides("gru"), int8="dynamic").variants[0]
    assert variant.changes["float_recurrent"] == {"GRU": 1}
    assert any("GRU layer(s) stay float32" in note for note in variant.changes["notes"])


def test_int8_static_qdq_calibrated_on_task_data(tmp_path: Path) -> None:
    result = export("tcn", tmp_path, overrides=small_overrides("tcn"), int8="static", calibration="percentile")
    (variant,) = result.variants
    assert variant.verification.ok
    assert variant.changes["calibration"] == {"task": "seq-digits", "method": "percentile", "samples": 128, "split": "train"}
    assert variant.changes["quantized_ops"]["Conv"] >= 4
    inventory = op_inventory(onnx.load(str(tmp_path / variant.file)))
    assert inventory["QuantizeLinear"] > 0 and inventory["DequantizeLinear"] > 0
    meta = _meta(tmp_path / variant.file)
    assert meta["ortkit.precision"] == "int8-static" and json.loads(meta["ortkit.calibration"])["method"] == "percentile"


def test_int8_static_on_a_user_model_needs_a_task(tmp_path: Path, user_models: Path) -> None:
    with pytest.raises(UsageError) as caught:
        export(f"{user_models}:seq_lstm", tmp_path / "o", inputs=["x:float32:batch,time,4"], int8="static")
    assert "--task" in str(caught.value)
    assert not (tmp_path / "o").exists()


def test_metric_before_and_after_for_a_trained_checkpoint(tmp_path: Path) -> None:
    from ortkit.models import Manifest, create_model, get_task, save_checkpoint

    overrides = {"hidden_size": 12}
    model = create_model("lstm", **overrides)
    manifest = Manifest(model="lstm", overrides=overrides, task="seq-digits", task_options={}, metric_name="accuracy",
                        metric_value=0.0, higher_is_better=True, seed=0, training_seconds=0.0, epochs=0, steps=0,
                        parameters=sum(p.numel() for p in model.parameters()), versions={})
    folder = save_checkpoint(tmp_path / "ckpt", model, manifest)
    result = export(str(folder), tmp_path / "out", int8="dynamic", fp16=True)
    fp16, int8 = result.variants
    assert fp16.kind == "fp16" and fp16.metric is not None and fp16.metric["task"] == "seq-digits"
    assert abs(fp16.metric["change"]) < 0.05  # fp16 barely moves a classifier's accuracy
    metric = int8.metric
    assert metric is not None and metric["name"] == "accuracy" and metric["task"] == "seq-digits"

    # Recompute the fp32 number independently from the written file.
    task = get_task("seq-digits")
    x, y = task.load("test")
    x, y = x[: metric["samples"]], y[: metric["samples"]]
    session = ort.InferenceSession(str(result.model_path), providers=["CPUExecutionProvider"])
    assert metric["fp32"] == pytest.approx(task.metric(session.run(None, {"x": x})[0], y))
    assert metric["change"] == pytest.approx(metric["variant"] - metric["fp32"])
    report = json.loads(result.report_path.read_text())
    assert report["variants"][1]["metric"]["fp32"] == metric["fp32"] == fp16.metric["fp32"]
    assert report["source"]["origin"] == "checkpoint" and report["source"]["trained"] is True


def test_optimized_model_is_marked_ep_and_machine_specific(tmp_path: Path) -> None:
    result = export("tcn", tmp_path, overrides=small_overrides("tcn"), optimize="all", optimize_ep="cpu")
    (variant,) = result.variants
    assert variant.kind == "optimized-cpu" and variant.verification.ok
    target = json.loads(_meta(tmp_path / variant.file)["ortkit.optimized_for"])
    assert target["ep"] == "CPUExecutionProvider" and target["level"] == "all" and target["specific"] is True
    assert variant.changes["nodes"]["after"] < variant.changes["nodes"]["before"]
    with pytest.raises(UsageError):
        export("tcn", tmp_path / "x", overrides=small_overrides("tcn"), optimize="all", optimize_ep="nosuch")


def test_int8_tolerance_scales_with_the_output_range() -> None:
    from ortkit.exporter._verify import TOLERANCES

    logits = np.array([[-8.0, 2.0, 10.0]])
    assert TOLERANCES["int8-dynamic"].atol_for(logits) == pytest.approx(1.5)
    assert TOLERANCES["int8-dynamic"].atol_for(logits / 100) == pytest.approx(0.15)  # at least of 1
    assert TOLERANCES["fp32"].atol_for(logits) == pytest.approx(1e-4)  # float parity stays absolute


def test_keep_going_keeps_the_verified_files_and_records_the_failed_variant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ortkit.exporter import VerificationFailed
    from ortkit.exporter._verify import TOLERANCES, Tolerance

    # No quantised model matches float to 1e-9: the int8 variant is bound to fail its parity.
    monkeypatch.setitem(TOLERANCES, "int8-dynamic", Tolerance(1e-9, 0.0))
    with pytest.raises(VerificationFailed):
        export("lstm", tmp_path / "strict", overrides=small_overrides("lstm"), int8="dynamic", fp16=True)
    assert not (tmp_path / "strict" / "model.onnx").exists()

    result = export("lstm", tmp_path / "kept", overrides=small_overrides("lstm"), int8="dynamic", fp16=True, keep_going=True)
    assert [v.kind for v in result.variants] == ["fp16"]
    assert [v.kind for v in result.failed_variants] == ["int8-dynamic"]
    report = json.loads((tmp_path / "kept" / "export.json").read_text())
    assert [v["kind"] for v in report["failed_variants"]] == ["int8-dynamic"]
    assert "parity" in report["failed_variants"][0]["reason"]
    assert (tmp_path / "kept" / "model.onnx").is_file() and (tmp_path / "kept" / "model.fp16.onnx").is_file()
    assert not (tmp_path / "kept" / "model.int8-dynamic.onnx").exists()

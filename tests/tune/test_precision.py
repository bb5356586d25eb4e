"""The accuracy constraint on precision variants: the task metric's drop where the export
recorded it, else the outputs against fp32 within the exporter's tolerance."""

from __future__ import annotations

from pathlib import Path

from ortkit.tune import precision_variants

from tests.tune.conftest import export_folder


def _metric(fp32: float, variant: float, higher: bool = True) -> dict:
    return {"name": "accuracy", "higher_is_better": higher, "task": "seq-digits", "split": "test", "fp32": fp32, "variant": variant}


def test_a_variant_races_only_when_its_metric_drop_is_within_the_limit(tmp_path: Path) -> None:
    model = export_folder(tmp_path, {"fp16": _metric(0.90, 0.899), "int8-dynamic": _metric(0.90, 0.85)})
    checks = {c.precision: c for c in precision_variants(model, ("fp16", "int8-dynamic", "int8-static"), 0.01, (1, 16))}
    assert checks["fp16"].allowed and abs(checks["fp16"].drop - 0.001) < 1e-9
    assert "<= 0.01" in checks["fp16"].reason and checks["fp16"].path.endswith("model.fp16.onnx") and len(checks["fp16"].sha256) == 64
    assert not checks["int8-dynamic"].allowed and "drop 0.05 > 0.01" in checks["int8-dynamic"].reason
    assert not checks["int8-static"].allowed and "no int8-static variant" in checks["int8-static"].reason
    # a looser limit lets the INT8 file race
    assert all(c.allowed for c in precision_variants(model, ("fp16", "int8-dynamic"), 0.06, (1, 16)))


def test_a_lower_is_better_metric_counts_an_increase_as_the_drop(tmp_path: Path) -> None:
    model = export_folder(tmp_path, {"fp16": {**_metric(0.010, 0.030, higher=False), "name": "mse"}})
    (check,) = precision_variants(model, ("fp16",), 0.01, (1, 16))
    assert not check.allowed and abs(check.drop - 0.02) < 1e-9


def test_without_a_task_metric_the_outputs_must_stay_within_the_tolerance_of_fp32(tmp_path: Path) -> None:
    same = export_folder(tmp_path / "same", {"fp16": None})
    (check,) = precision_variants(same, ("fp16",), 0.01, (4, 32))
    assert check.allowed and "within" in check.reason
    off = export_folder(tmp_path / "off", {"int8-dynamic": None}, shift=5.0)
    (check,) = precision_variants(off, ("int8-dynamic",), 0.01, (4, 32))
    assert not check.allowed and "outside the int8-dynamic tolerance" in check.reason

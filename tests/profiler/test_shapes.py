from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ortkit.profiler._shapes import ShapeError, concrete_shapes, has_time_axis, model_signature


def test_axes_found_from_symbolic_names_and_position(tmp_path: Path, build: SimpleNamespace) -> None:
    path = build.lstm(tmp_path / "l.onnx", batch="N", time="T")
    sigs, _ = model_signature(path)
    assert sigs[0].roles == ("batch", "time", None) and has_time_axis(sigs)
    assert concrete_shapes(path, sigs, 3, 7) == {"x": (3, 7, 4)}
    mm = build.matmul(tmp_path / "m.onnx")
    sigs, _ = model_signature(mm)
    assert not has_time_axis(sigs) and concrete_shapes(mm, sigs, 5, None) == {"x": (5, 64)}


def test_fixed_time_from_exporter_metadata_is_refused(tmp_path: Path, build: SimpleNamespace) -> None:
    import onnx

    path = build.lstm(tmp_path / "l.onnx", time=16)
    model = onnx.load(path)
    onnx.helper.set_model_props(model, {"ortkit.spec": '{"inputs": [{"name": "x", "dtype": "float32", "dims": ["batch", "time", 4]}]}'})
    onnx.save(model, path)
    sigs, _ = model_signature(path)
    assert concrete_shapes(path, sigs, 2, 16) == {"x": (2, 16, 4)}
    with pytest.raises(ShapeError, match="fixed time length of 16"):
        concrete_shapes(path, sigs, 2, 32)


def test_unreadable_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ShapeError, match="not a readable ONNX model"):
        model_signature(bad)

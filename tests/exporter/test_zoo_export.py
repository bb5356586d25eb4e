"""Every zoo model exports with `auto` and provably matches PyTorch; checked here independently of
the exporter's own verification (raw onnxruntime at a shape the exporter never used, metadata,
export.json, sha256)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ortkit.exporter import DEFAULT_OPSET, SCHEMA_VERSION, export
from ortkit.models import create_model, list_models

from .conftest import small_overrides


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_model_exports_with_auto_and_matches_torch(name: str, tmp_path: Path) -> None:
    overrides = small_overrides(name)
    result = export(name, tmp_path, overrides=overrides, seed=3)

    assert result.verification.ok
    assert result.exporter in {"torchscript", "dynamo"}
    labels = [p.label for p in result.verification.parity]
    assert len(labels) >= 4
    if result.spec.is_sequence:
        assert {"time=1", "other time", "other batch", "long time"} <= set(labels)
        long_row = next(p for p in result.verification.parity if p.label == "long time")
        assert dict(long_row.shapes)["x"][1] >= 4 * 16

    # Independent check: same weights (same seed), raw onnxruntime, a shape not used by the exporter.
    torch.manual_seed(3)
    module = create_model(name, **overrides).eval()
    shape = (3, 37, *result.spec.inputs[0].dims[2:]) if result.spec.is_sequence else (6, *result.spec.inputs[0].dims[1:])
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    session = ort.InferenceSession(str(result.model_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x})[0]
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)

    model = onnx.load(str(result.model_path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["ortkit.model"] == name
    assert meta["ortkit.family"] == result.spec.family
    assert meta["ortkit.precision"] == "fp32"
    assert json.loads(meta["ortkit.spec"])["name"] == name
    info = json.loads(meta["ortkit.export"])
    assert info["exporter"] == result.exporter and info["opset"] == DEFAULT_OPSET and info["parity"]["ok"]
    fused = sum(n for op, n in result.verification.inventory.items() if op in {"RNN", "LSTM", "GRU"})
    assert fused == result.spec.recurrent_layers

    report = json.loads((tmp_path / "export.json").read_text())
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["sha256"] == hashlib.sha256(result.model_path.read_bytes()).hexdigest()
    assert report["parameters"] == sum(p.numel() for p in module.parameters())
    assert report["spec"]["name"] == name and report["opset"] == DEFAULT_OPSET
    assert {"torch", "onnx", "onnxruntime", "ortkit"} <= set(report["versions"])
    assert len(report["parity"]) == len(labels) and all(row["ok"] for row in report["parity"])
    assert report["op_inventory"] and report["warnings"]  # random weights are flagged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.json", "model.onnx"]


def test_runtime_reads_the_exported_metadata(tmp_path: Path) -> None:
    from ortkit.runtime import Runtime

    result = export("gru", tmp_path, overrides=small_overrides("gru"))
    rt = Runtime(result.model_path, providers="cpu")
    assert rt.metadata["ortkit.model"] == "gru"
    assert rt.metadata["ortkit.precision"] == "fp32"
    assert [i.name for i in rt.inputs] == ["x"]
    y = rt.run({"x": np.zeros((2, 5, 1), np.float32)})["y"]
    assert y.shape == (2, 10)


def test_opset_is_configurable(tmp_path: Path) -> None:
    result = export("lstm", tmp_path, overrides=small_overrides("lstm"), opset=17)
    model = onnx.load(str(result.model_path))
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {17}
    assert result.opset == 17

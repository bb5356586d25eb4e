"""Streaming export: explicit per-layer state, metadata per the architecture contract, chunked
parity against the offline per-step output, refusal for non-causal models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ortkit.exporter import StreamingUnsupported, export
from ortkit.models import create_model

from .conftest import small_overrides


def _stream(path: Path, x: np.ndarray, chunk: int) -> np.ndarray:
    """Run a streaming file chunk by chunk, reading the state layout from its metadata only."""
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["ortkit.streaming"] == "1"
    states = json.loads(meta["ortkit.streaming.states"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    current = {s["input"]: np.zeros([x.shape[0] if d == "batch" else d for d in s["dims"]], np.float32) for s in states}
    pieces = []
    for start in range(0, x.shape[1], chunk):
        out = dict(zip([o.name for o in session.get_outputs()],
                       session.run(None, {"x": x[:, start:start + chunk], **current})))
        pieces.append(out["y"])
        current = {s["input"]: out[s["output"]] for s in states}
    return np.concatenate(pieces, axis=1)


@pytest.mark.parametrize("name,extra", [("lstm", {"num_layers": 2}), ("gru", {}), ("rnn", {"num_layers": 2}), ("tcn", {})])
def test_streaming_matches_offline_per_step_output(name: str, extra: dict, tmp_path: Path) -> None:
    overrides = small_overrides(name, **extra)
    result = export(name, tmp_path, overrides=overrides, streaming=True, seed=1)
    (variant,) = result.variants
    assert variant.kind == "streaming" and variant.verification.ok
    labels = [p.label for p in variant.verification.parity]
    assert labels[0] == "chunk=1" and "odd" in labels[1]
    assert ("receptive field" in labels[2]) if name == "tcn" else ("whole sequence" in labels[2])

    states = variant.changes["states"]
    if name == "lstm":
        assert [s["name"] for s in states] == ["h0", "h1", "c0", "c1"]
    if name == "tcn":
        assert [s["dims"][-1] for s in states] == [2, 2, 4, 4]  # (k-1)*dilation frames per conv
    for s in states:
        assert s["input"] == s["name"] + "_in" and s["output"] == s["name"] + "_out" and "batch" in s["dims"]

    torch.manual_seed(1)
    module = create_model(name, **overrides).eval()
    x = np.random.default_rng(9).standard_normal((2, 41, 1)).astype(np.float32)
    with torch.no_grad():
        want = module.forward_steps(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_stream(tmp_path / variant.file, x, chunk=3), want, atol=1e-4, rtol=1e-3)
    np.testing.assert_allclose(want[:, -1], module(torch.from_numpy(x)).detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ["bilstm", "cnn1d", "crnn", "cnn2d"])
def test_non_causal_model_is_refused_before_any_work(name: str, tmp_path: Path) -> None:
    with pytest.raises(StreamingUnsupported) as caught:
        export(name, tmp_path / "o", overrides=small_overrides(name), streaming=True)
    message = str(caught.value)
    assert "\n" not in message and "not causal" in message and "lstm" in message
    assert not (tmp_path / "o").exists()


def test_user_model_without_streaming_interface_is_refused(tmp_path: Path, user_models: Path) -> None:
    with pytest.raises(StreamingUnsupported) as caught:
        export(f"{user_models}:seq_lstm", tmp_path / "o", inputs=["x:float32:batch,time,4"], streaming=True)
    assert "forward_stream" in str(caught.value)


@pytest.mark.parametrize("name,extra", [("lstm", {"num_layers": 2}), ("tcn", {})])
def test_runtime_stream_on_an_exported_streaming_model_matches_offline(name: str, extra: dict, tmp_path: Path) -> None:
    """The exporter's streaming files and the runtime's `stream()` agree on the state contract:
    chunks pushed through `Runtime.stream` concatenate to the offline per-step output."""
    from ortkit.runtime import Runtime

    overrides = small_overrides(name, **extra)
    result = export(name, tmp_path, overrides=overrides, streaming=True, seed=1)
    (variant,) = result.variants
    torch.manual_seed(1)
    module = create_model(name, **overrides).eval()
    x = np.random.default_rng(3).standard_normal((3, 29, 1)).astype(np.float32)
    with torch.no_grad():
        want = module.forward_steps(torch.from_numpy(x)).numpy()
    stream = Runtime(tmp_path / variant.file, providers="cpu").stream()
    for chunk in (1, 4, 7):
        stream.reset()
        pieces = [stream.push(x[:, start:start + chunk])["y"] for start in range(0, x.shape[1], chunk)]
        np.testing.assert_allclose(np.concatenate(pieces, axis=1), want, atol=1e-4, rtol=1e-3)

"""Streaming sessions over a WebSocket: chunked outputs equal the offline output; reset, errors,
the cap and idle expiry."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ortkit.runtime import Runtime
from ortkit.serve import ServeOptions, app

from .conftest import running


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _push(ws, chunk: np.ndarray) -> dict[str, np.ndarray]:
    ws.send(_npy(chunk))
    reply = ws.recv(timeout=10)
    assert isinstance(reply, bytes), reply
    with np.load(io.BytesIO(reply)) as outputs:
        return {k: outputs[k] for k in outputs.files}


def test_chunked_output_equals_offline(model_files: dict[str, Path]) -> None:
    x = np.random.default_rng(0).standard_normal((2, 23, 5)).astype(np.float32)
    offline = Runtime(str(model_files["gru"]), "cpu").run({"x": x, "h": np.zeros((2, 1, 16), np.float32)})["y"]
    with running(app([model_files["gru"]], ServeOptions(threads=1))) as (url, _):
        with connect(f"ws://{url}/v2/models/gru-streaming/stream") as ws:
            for sizes in ([1] * 23, [5, 5, 5, 8], [2, 1, 20]):
                parts, start = [], 0
                for size in sizes:
                    out = _push(ws, x[:, start:start + size])
                    assert set(out) == {"y"}  # the state stays on the server
                    parts.append(out["y"])
                    start += size
                np.testing.assert_allclose(np.concatenate(parts, axis=1), offline, rtol=1e-5, atol=1e-6)
                ws.send(json.dumps({"reset": True}))
                assert json.loads(ws.recv(timeout=10)) == {"reset": True}

            # A rejected chunk is answered with its message and changes nothing.
            first = _push(ws, x[:, :4])["y"]
            ws.send(_npy(np.zeros((2, 3, 7), np.float32)))
            assert "dim 2" in json.loads(ws.recv(timeout=10))["error"]
            ws.send(b"not npy")
            assert ".npy" in json.loads(ws.recv(timeout=10))["error"]
            rest = _push(ws, x[:, 4:])["y"]
            np.testing.assert_allclose(np.concatenate([first, rest], axis=1), offline, rtol=1e-5, atol=1e-6)


def test_cap_and_idle_expiry(model_files: dict[str, Path]) -> None:
    options = ServeOptions(threads=1, max_streams=1, stream_idle_s=0.5)
    with running(app(model_files.values(), options)) as (url, _):
        stream_url = f"ws://{url}/v2/models/gru-streaming/stream"
        with connect(stream_url) as first:
            _push(first, np.zeros((1, 2, 5), np.float32))
            with connect(stream_url) as second, pytest.raises(ConnectionClosed) as closed:
                second.recv(timeout=10)
            assert closed.value.rcvd.code == 1013
            with pytest.raises(ConnectionClosed) as idle:  # no chunk for 0.5 s: the server closes it
                first.recv(timeout=10)
            assert idle.value.rcvd.code == 1000 and idle.value.rcvd.reason == "idle"
        with connect(f"ws://{url}/v2/models/mlp/stream") as ws, pytest.raises(ConnectionClosed) as refused:
            ws.recv(timeout=10)
        assert "not a streaming export" in refused.value.rcvd.reason


@pytest.mark.parametrize("family", ["lstm", "tcn"])
def test_zoo_streaming_export_over_websocket(family: str, tmp_path: Path) -> None:
    """The exporter's streaming file (recurrent state / convolution cache), chunked over the
    socket, equals the whole sequence run offline from the zero state."""
    pytest.importorskip("torch")
    from ortkit.exporter import export

    from tests.exporter.conftest import small_overrides

    export(family, tmp_path / family, overrides=small_overrides(family), streaming=True, seed=1)
    path = tmp_path / family / "model.streaming.onnx"
    rt = Runtime(str(path), "cpu")
    x = np.random.default_rng(2).standard_normal((2, 41, 1)).astype(np.float32)
    states = {s.input: np.zeros([2 if d == "batch" else d for d in s.dims], np.float32) for s in rt.stream().states}
    offline = rt.run({"x": x, **states})["y"]
    with running(app([path], ServeOptions(threads=1))) as (url, _):
        with connect(f"ws://{url}/v2/models/{family}-streaming/stream") as ws:
            chunks = [_push(ws, part)["y"] for part in np.array_split(x, [1, 4, 11, 12, 30], axis=1)]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), offline, rtol=1e-4, atol=1e-5)

"""Streaming: chunked outputs equal offline outputs; state, reset, initial state, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ortkit.runtime import InputError, NotStreamable, Runtime


def _offline(rt: Runtime, x: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
    h = np.zeros((x.shape[0], 1, 16), np.float32) if h0 is None else h0
    return rt.run({"x": x, "h": h})["y"]


def _chunked(stream, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    parts, start = [], 0
    for size in sizes:
        out = stream.push(x[:, start:start + size])
        assert set(out) == {"y"}  # the state output stays inside the stream
        parts.append(out["y"])
        start += size
    assert start == x.shape[1]
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize("bound", [False, True], ids=["numpy-state", "ortvalue-state"])
def test_chunked_equals_offline(models, bound: bool) -> None:
    rt = Runtime(models.gru().SerializeToString(), "cpu")
    if bound:  # the device path (state kept in OrtValues, bound to the next call), on the CPU
        rt._bound_device = ("cpu", 0)
    x = np.random.default_rng(0).standard_normal((2, 23, 5)).astype(np.float32)
    offline = _offline(rt, x)
    stream = rt.stream()
    for sizes in ([1] * 23, [5, 5, 5, 8], [23], [2, 1, 20]):
        stream.reset()
        np.testing.assert_allclose(_chunked(stream, x, sizes), offline, rtol=1e-5, atol=1e-6)
    # Without reset the state carries on: pushing the sequence again continues from the end.
    again = _chunked(stream, x, [23])
    assert not np.allclose(again, offline)
    h_end = rt.run({"x": x, "h": np.zeros((2, 1, 16), np.float32)})["h_out"]
    np.testing.assert_allclose(again, _offline(rt, x, h_end), rtol=1e-5, atol=1e-6)
    assert stream.state is not None and stream.state["h"].shape == (2, 1, 16)


def test_initial_state(models) -> None:
    rt = Runtime(models.gru().SerializeToString(), "cpu")
    x = np.random.default_rng(1).standard_normal((1, 9, 5)).astype(np.float32)
    h0 = np.random.default_rng(2).standard_normal((1, 1, 16)).astype(np.float32)
    stream = rt.stream(initial_state={"h": h0})
    np.testing.assert_allclose(_chunked(stream, x, [4, 5]), _offline(rt, x, h0), rtol=1e-5, atol=1e-6)
    stream.reset()
    np.testing.assert_allclose(_chunked(stream, x, [9]), _offline(rt, x, h0), rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="unknown state 'c'"):
        rt.stream(initial_state={"c": h0})
    with pytest.raises(InputError, match="expected dtype float32"):
        rt.stream(initial_state={"h": h0.astype(np.float64)})


def test_bad_chunks(models) -> None:
    stream = Runtime(models.gru().SerializeToString(), "cpu").stream()
    with pytest.raises(InputError, match="expected dim 2 = 5"):
        stream.push(np.zeros((1, 3, 4), np.float32))
    with pytest.raises(InputError, match="is state"):
        stream.push({"x": np.zeros((1, 3, 5), np.float32), "h": np.zeros((1, 1, 16), np.float32)})
    stream.push(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(InputError, match="disagree on 'batch'"):  # the batch is fixed by the state
        stream.push(np.zeros((3, 3, 5), np.float32))


def test_not_a_streaming_model(models) -> None:
    with pytest.raises(NotStreamable, match="not a streaming export"):
        Runtime(models.gru(streaming=False).SerializeToString(), "cpu").stream()
    with pytest.raises(NotStreamable, match="not a streaming export"):
        Runtime(models.mlp().SerializeToString(), "cpu").stream()
    model = models.gru()
    for prop in model.metadata_props:
        if prop.key == "ortkit.streaming.states":
            prop.value = json.dumps([{"name": "h", "input": "h", "output": "nope", "dims": ["batch", 1, 16]}])
    with pytest.raises(NotStreamable, match="names input 'h' and output 'nope'"):
        Runtime(model.SerializeToString(), "cpu").stream()
    for prop in model.metadata_props:
        if prop.key == "ortkit.streaming.states":
            prop.value = "{not json"
    with pytest.raises(NotStreamable, match="malformed"):
        Runtime(model.SerializeToString(), "cpu").stream()

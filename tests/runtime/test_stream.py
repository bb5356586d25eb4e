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
    with pytest.raises(InputError, match="this stream runs batch 2"):  # the batch is fixed by the state
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


@pytest.mark.parametrize("bound", [False, True], ids=["numpy-state", "ortvalue-state"])
def test_empty_chunk_returns_empty_outputs_and_keeps_the_state(models, bound: bool) -> None:
    # onnxruntime's GRU aborts the process on time 0, and an LSTM export returns a changed state
    # for it: an empty chunk must run nothing and leave the state as it was.
    rt = Runtime(models.gru().SerializeToString(), "cpu")
    if bound:
        rt._bound_device = ("cpu", 0)
    x = np.random.default_rng(3).standard_normal((2, 12, 5)).astype(np.float32)
    stream = rt.stream()
    empty = stream.push(x[:, :0])
    assert empty["y"].shape == (2, 0, 3) and empty["y"].dtype == np.float32
    assert stream.state is None  # nothing started
    first = stream.push(x[:, :5])["y"]
    before = stream.state["h"].copy()
    assert stream.push(x[:, 5:5])["y"].shape == (2, 0, 3)
    np.testing.assert_array_equal(stream.state["h"], before)
    with pytest.raises(InputError, match="expected dim 2 = 5"):  # an empty chunk is still checked
        stream.push(np.zeros((2, 0, 4), np.float32))
    rest = stream.push(x[:, 5:])["y"]
    np.testing.assert_allclose(np.concatenate([first, rest], axis=1), _offline(rt, x), rtol=1e-5, atol=1e-6)


def test_batch_is_fixed_until_reset(models) -> None:
    rt = Runtime(models.gru().SerializeToString(), "cpu")
    stream = rt.stream()
    x = np.random.default_rng(4).standard_normal((3, 4, 5)).astype(np.float32)
    stream.push(x)
    assert stream.batch == 3
    before = stream.state["h"].copy()
    with pytest.raises(InputError, match=r"this stream runs batch 3 \(set by its first chunk\), got a chunk of batch 1; call reset\(\)"):
        stream.push(x[:1])
    with pytest.raises(InputError, match="expected dtype float32, got float64"):
        stream.push(x.astype(np.float64))
    np.testing.assert_array_equal(stream.state["h"], before)  # rejected chunks change nothing
    stream.reset()
    assert stream.batch is None
    np.testing.assert_allclose(stream.push(x[:1])["y"], _offline(rt, x[:1]), rtol=1e-5, atol=1e-6)


def test_initial_state_checks(models) -> None:
    rt = Runtime(models.gru().SerializeToString(), "cpu")
    h0 = np.random.default_rng(5).standard_normal((2, 1, 16)).astype(np.float32)
    cases = [
        ({"h": np.zeros((2, 1, 8), np.float32)}, r"expected dims \['batch', 1, 16\], got shape \(2, 1, 8\) \(dim 2 must be 16\)"),
        ({"h": np.zeros((0, 1, 16), np.float32)}, "batch is 0"),
        ({"h": None}, "expected a numpy float32 array of dims"),
        ({"h": h0.tolist()}, "got list"),
        ({"h": h0, "h_in": h0}, "unknown state 'h_in'"),
        ([h0], "initial_state must be a dict"),
    ]
    for initial, pattern in cases:
        with pytest.raises(InputError, match=pattern):
            rt.stream(initial_state=initial)
    stream = rt.stream(initial_state={"h": h0})
    assert stream.batch == 2
    with pytest.raises(InputError, match=r"runs batch 2 \(set by its initial state\), got a chunk of batch 1"):
        stream.push(np.zeros((1, 3, 5), np.float32))
    # The stream keeps its own copy: changing the caller's array afterwards changes nothing.
    x = np.random.default_rng(6).standard_normal((2, 6, 5)).astype(np.float32)
    want = _offline(rt, x, h0.copy())
    h0[:] = 0
    np.testing.assert_allclose(stream.push(x)["y"], want, rtol=1e-5, atol=1e-6)


def test_push_names(models) -> None:
    stream = Runtime(models.gru().SerializeToString(), "cpu").stream()
    with pytest.raises(InputError, match="push: expected x, got z"):
        stream.push({"z": np.zeros((1, 3, 5), np.float32)})
    with pytest.raises(InputError, match="got NoneType"):
        stream.push(None)
    assert stream.push({"x": np.zeros((1, 3, 5), np.float32)})["y"].shape == (1, 3, 3)

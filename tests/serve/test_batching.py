"""Dynamic batching: concurrent requests share runs, grouped by shape, split back per request;
graceful shutdown finishes a queued request."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ortkit.runtime import Runtime
from ortkit.serve import ServeOptions, app

from .conftest import running


def _infer(url: str, model: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    body = {"inputs": [{"name": k, "shape": list(v.shape), "datatype": "FP32", "data": v.ravel().tolist()}
                       for k, v in inputs.items()]}
    request = urllib.request.Request(f"http://{url}/v2/models/{model}/infer", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        reply = json.loads(response.read())
    return {o["name"]: np.array(o["data"], np.float32).reshape(o["shape"]) for o in reply["outputs"]}


def _batch_counts(url: str, model: str) -> tuple[int, float]:
    with urllib.request.urlopen(f"http://{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    runs = int(re.search(rf'ortkit_batch_rows_count{{model="{model}"}} (\d+)', text).group(1))
    rows = float(re.search(rf'ortkit_batch_rows_sum{{model="{model}"}} (\S+)', text).group(1))
    return runs, rows


def test_concurrent_requests_share_runs_and_get_their_own_rows(model_files: dict[str, Path]) -> None:
    rt = Runtime(str(model_files["gru"]), "cpu")
    rng = np.random.default_rng(3)
    # Two sequence lengths and two batch sizes: only equal (time, features) may share a run.
    requests = []
    for i in range(12):
        batch, time = (2 if i % 3 == 0 else 1), (5 if i % 2 else 9)
        requests.append({"x": rng.standard_normal((batch, time, 5)).astype(np.float32),
                         "h": rng.standard_normal((batch, 1, 16)).astype(np.float32)})
    options = ServeOptions(max_batch=8, max_delay_ms=300, threads=1)
    with running(app([model_files["gru"]], options)) as (url, _):
        with ThreadPoolExecutor(len(requests)) as pool:
            results = list(pool.map(lambda r: _infer(url, "gru-streaming", r), requests))
        runs, rows = _batch_counts(url, "gru-streaming")
    for given, got in zip(requests, results):
        want = rt.run(given)
        for name in ("y", "h_out"):
            np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)
    assert rows == sum(r["x"].shape[0] for r in requests)
    assert runs < len(requests), f"{runs} runs for {len(requests)} concurrent requests: nothing was batched"
    assert runs >= 2  # the two lengths never share a run


def test_max_batch_1_runs_each_request_alone(model_files: dict[str, Path]) -> None:
    x = np.ones((1, 4), np.float32)
    with running(app([model_files["mlp"]], ServeOptions(max_batch=1, max_delay_ms=100, threads=1))) as (url, _):
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda _: _infer(url, "mlp", {"x": x}), range(6)))
        assert _batch_counts(url, "mlp") == (6, 6.0)


def test_graceful_shutdown_finishes_a_queued_request(model_files: dict[str, Path]) -> None:
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    got: list[dict[str, np.ndarray]] = []
    # The request waits 500 ms in the batcher's queue; the server is told to stop meanwhile.
    with running(app([model_files["mlp"]], ServeOptions(max_delay_ms=500, threads=1))) as (url, server):
        client = threading.Thread(target=lambda: got.append(_infer(url, "mlp", {"x": x})))
        client.start()
        for _ in range(200):  # bounded: until the request is queued
            if server.server_state.total_requests:
                break
            threading.Event().wait(0.01)
        server.should_exit = True
        client.join(20)
    assert got, "the in-flight request was dropped"
    np.testing.assert_allclose(got[0]["y"], Runtime(str(model_files["mlp"]), "cpu").run(x)["y"], rtol=1e-6)


def test_a_bad_value_fails_only_its_own_request(tmp_path: Path) -> None:
    """Same shapes share a run; an index out of range in one request must not fail the other."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = numpy_helper.from_array(np.arange(15, dtype=np.float32).reshape(5, 3), "table")
    model = helper.make_model(
        helper.make_graph([helper.make_node("Gather", ["table", "i"], ["y"], axis=0)], "g",
                          [helper.make_tensor_value_info("i", TensorProto.INT64, ["batch", 1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1, 3])], [table]),
        opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "lookup.onnx")

    def call(url: str, index: int) -> tuple[int, dict]:
        body = {"inputs": [{"name": "i", "shape": [1, 1], "datatype": "INT64", "data": [index]}]}
        request = urllib.request.Request(f"http://{url}/v2/models/lookup/infer", data=json.dumps(body).encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    with running(app([tmp_path / "lookup.onnx"], ServeOptions(max_batch=8, max_delay_ms=300, threads=1))) as (url, _):
        with ThreadPoolExecutor(2) as pool:
            good, bad = pool.map(lambda i: call(url, i), [2, 99])
        runs, rows = _batch_counts(url, "lookup")
    assert good == (200, good[1]) and good[1]["outputs"][0]["data"] == [6.0, 7.0, 8.0]
    assert bad[0] == 400 and "onnxruntime" in bad[1]["error"]
    assert (runs, rows) == (1, 2.0)  # they did share the run that failed


def test_alternating_lengths_still_batch(model_files: dict[str, Path]) -> None:
    """Requests of two lengths arriving alternately form one run per length, not one per request."""
    import asyncio

    from ortkit.serve import load_models
    from ortkit.serve._batcher import Batcher

    options = ServeOptions(max_batch=8, threads=1)
    (model,) = load_models([model_files["gru"]], options)
    rng = np.random.default_rng(5)
    requests = [{"x": rng.standard_normal((1, 5 if i % 2 else 9, 5)).astype(np.float32),
                 "h": np.zeros((1, 1, 16), np.float32)} for i in range(8)]
    runs: list[int] = []

    async def serve_all() -> list[dict[str, np.ndarray]]:
        batcher = Batcher(model, options, lambda name, rows: runs.append(rows))
        batcher.start()
        try:
            return [out for out, _ in await asyncio.gather(*(batcher.submit(r) for r in requests))]
        finally:
            await batcher.stop()

    results = asyncio.run(serve_all())
    assert sorted(runs) == [4, 4]
    for given, got in zip(requests, results):
        np.testing.assert_allclose(got["y"], model.runtime.run(given)["y"], rtol=1e-5, atol=1e-6)

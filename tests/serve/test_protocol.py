"""The Open Inference Protocol, driven by Triton's own HTTP client against a real uvicorn server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from ortkit.runtime import Runtime
from ortkit.serve import ServeOptions, app, model_label

from .conftest import running


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_model_label(tmp_path: Path) -> None:
    assert model_label(tmp_path / "lstm-64" / "model.onnx") == "lstm-64"
    assert model_label(tmp_path / "lstm-64" / "model.streaming.onnx") == "lstm-64-streaming"
    assert model_label(tmp_path / "mine.onnx") == "mine"


def test_tritonclient_drives_the_server(model_files: dict[str, Path]) -> None:
    with running(app(model_files.values(), ServeOptions(max_batch=8, threads=1))) as (url, _):
        client = httpclient.InferenceServerClient(url=url)
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("mlp") and client.is_model_ready("gru-streaming")

        meta = client.get_model_metadata("gru-streaming")
        assert meta["name"] == "gru-streaming"
        by_name = {t["name"]: t for t in meta["inputs"]}
        assert by_name["x"] == {"name": "x", "datatype": "FP32", "shape": [-1, -1, 5]}
        assert by_name["h"]["shape"] == [-1, 1, 16]

        x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
        want = Runtime(str(model_files["mlp"]), "cpu").run(x)["y"]
        for binary in (True, False):  # the binary tensor extension, and JSON data lists
            given = httpclient.InferInput("x", list(x.shape), "FP32")
            given.set_data_from_numpy(x, binary_data=binary)
            result = client.infer("mlp", [given], outputs=[httpclient.InferRequestedOutput("y", binary_data=binary)])
            np.testing.assert_allclose(result.as_numpy("y"), want, rtol=1e-6)
        result = client.infer("mlp", [given])  # no outputs named: all come back, binary
        np.testing.assert_allclose(result.as_numpy("y"), want, rtol=1e-6)

        bad = httpclient.InferInput("x", [3, 5], "FP32")
        bad.set_data_from_numpy(np.zeros((3, 5), np.float32))
        with pytest.raises(InferenceServerException, match="x") as caught:
            client.infer("mlp", [bad])
        assert caught.value.status() == "400"
        with pytest.raises(InferenceServerException, match="no model 'nope'"):
            client.get_model_metadata("nope")


def test_errors_are_400_with_the_message(model_files: dict[str, Path]) -> None:
    with running(app([model_files["mlp"]], ServeOptions(threads=1))) as (url, _):
        base = f"http://{url}/v2/models/mlp/infer"
        cases = {
            b"not json": "not JSON",
            json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]}).encode(): "do not fill",
            json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}).encode(): "float",
            json.dumps({"inputs": [{"name": "q", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).encode(): "q",
            json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "STRANGE", "data": [1]}]}).encode(): "STRANGE",
        }
        for body, needle in cases.items():
            request = urllib.request.Request(base, data=body, method="POST")
            try:
                urllib.request.urlopen(request, timeout=10)
                raise AssertionError("expected HTTP 400")
            except urllib.error.HTTPError as error:
                assert error.code == 400, body
                assert needle in json.loads(error.read())["error"], body
        status, body = _get(f"http://{url}/v2/models")
        assert status == 200 and [m["name"] for m in json.loads(body)["models"]] == ["mlp"]
        status, body = _get(f"http://{url}/metrics")
        text = body.decode()
        assert 'ortkit_requests_total{model="mlp",code="400"} 5' in text
        assert "# TYPE ortkit_request_seconds histogram" in text

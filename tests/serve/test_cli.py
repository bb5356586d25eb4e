"""`ortkit serve` as a user runs it: a process on 127.0.0.1 that serves, and stops on SIGTERM;
bad input is one line; the oversubscription warning."""

from __future__ import annotations

import os

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.cli import cli
from ortkit.serve import ServeError, ServeOptions, app, oversubscription


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_command_serves_and_stops_on_sigterm(model_files: dict[str, Path]) -> None:
    port = _free_port()
    cmd = [sys.executable, "-c", "from ortkit.cli import main; main()", "serve", str(model_files["mlp"]),
           f"gru={model_files['gru']}", "--port", str(port), "--threads", "1", "--max-batch", "4"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):  # bounded: about 30 s
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models", timeout=1) as response:
                    names = [m["name"] for m in json.loads(response.read())["models"]]
                    break
            except OSError:
                assert process.poll() is None, process.communicate()
                time.sleep(0.1)
        else:
            raise AssertionError("ortkit serve did not answer")
        assert names == ["mlp", "gru"]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "serving gru" in out and "streaming, WebSocket /v2/models/gru/stream" in out
    assert "Traceback" not in err and out.rstrip().endswith("stopped")


def test_bad_input_is_one_line(model_files: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "missing.onnx")])
    assert result.exit_code == 1 and "missing.onnx" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(cli, ["serve", f"a={model_files['mlp']}", f"a={model_files['gru']}"])
    assert result.exit_code == 2 and "two models are named 'a'" in result.output


def test_oversubscription() -> None:
    assert oversubscription(1, 2, cores=2) is None
    assert oversubscription(2, 1, cores=2) is None
    text = oversubscription(2, 2, cores=2, replicas=2)
    assert text is not None and "2 replica(s) x 2 concurrent session run(s) x 2 intra-op thread(s) = 8 threads on 2 cores" in text
    assert oversubscription(1, None, cores=4) is None  # onnxruntime's default: one thread per core


def test_app_warns_when_oversubscribed(model_files: dict[str, Path]) -> None:
    with pytest.warns(RuntimeWarning, match="intra-op thread"):
        # threads within the runtime's cap, but instances x threads beyond the cores
        cores = len(os.sched_getaffinity(0))
        app([model_files["mlp"]], ServeOptions(instances=cores + 1, threads=cores))
    with pytest.raises(ServeError, match="max_batch must be a positive integer"):
        ServeOptions(max_batch=0)

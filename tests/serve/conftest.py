"""A real uvicorn server on 127.0.0.1 (an ephemeral port) in a thread, and small ONNX models."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import onnx
import pytest
import uvicorn

from ortkit.serve._server import websocket_protocol
from tests.runtime.conftest import gru_model, mlp_model


@contextmanager
def running(application: Any) -> Iterator[tuple[str, uvicorn.Server]]:
    """Serve ``application`` until the block ends; yields ("127.0.0.1:PORT", server)."""
    config = uvicorn.Config(application, host="127.0.0.1", port=0, log_level="warning", lifespan="on",
                            ws=websocket_protocol(), timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):  # bounded: about 10 s
        if server.started or not thread.is_alive():
            break
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def model_files(tmp_path: Path) -> dict[str, Path]:
    """mlp/model.onnx (batch, 4) -> (batch, 3); gru/model.streaming.onnx, a streaming export."""
    mlp = tmp_path / "mlp" / "model.onnx"
    gru = tmp_path / "gru" / "model.streaming.onnx"
    for path, model in ((mlp, mlp_model()), (gru, gru_model())):
        path.parent.mkdir()
        onnx.save(model, path)
    return {"mlp": mlp, "gru": gru}

"""Streaming sessions over a WebSocket: one `Runtime.stream()` per connection, so a client's
recurrent state or convolution cache stays on the server between its chunks.

Messages (documented in docs/serving.md):
- client -> server, binary: one chunk as ``.npy`` bytes (the model's single data input, shape
  (batch, time, features)) or ``.npz`` bytes (several inputs by name);
- server -> client, binary: the chunk's outputs as ``.npz`` bytes (the state outputs stay on the
  server);
- client -> server, text ``{"reset": true}``: start again from the zero state; answered
  ``{"reset": true}``;
- server -> client, text ``{"error": "..."}``: the chunk was rejected and the state is unchanged.

A session with no message for ``stream_idle_s`` is closed (code 1000, reason "idle"); a connection
beyond ``max_streams`` open sessions is closed at once (code 1013, "try again later").
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from ortkit.base import OrtkitError

from ortkit.serve._metrics import Metrics
from ortkit.serve._models import ServedModel, ServeOptions

__all__ = ["StreamSessions", "CLOSE_IDLE", "CLOSE_FULL"]

CLOSE_IDLE = 1000
CLOSE_FULL = 1013  # "try again later"
CLOSE_NOT_STREAMING = 1008  # policy violation: the model keeps no state


class StreamSessions:
    """Counts open sessions against the cap and runs each one's message loop."""

    def __init__(self, options: ServeOptions, metrics: Metrics) -> None:
        self._options = options
        self._metrics = metrics
        self.open = 0

    async def serve(self, websocket: WebSocket, model: ServedModel) -> None:
        await websocket.accept()
        if not model.streaming:
            await websocket.close(CLOSE_NOT_STREAMING, f"{model.name} is not a streaming export")
            return
        if self.open >= self._options.max_streams:
            await websocket.close(CLOSE_FULL, f"{self.open} streaming sessions are open (the cap); try again later")
            return
        self.open += 1
        self._metrics.streams(model.name, 1)
        try:
            await self._loop(websocket, model)
        finally:
            self.open -= 1
            self._metrics.streams(model.name, -1)

    async def _loop(self, websocket: WebSocket, model: ServedModel) -> None:
        stream = model.runtime.stream()
        while True:
            try:
                message = await asyncio.wait_for(websocket.receive(), self._options.stream_idle_s)
            except asyncio.TimeoutError:
                await websocket.close(CLOSE_IDLE, "idle")
                return
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await self._control(websocket, stream, message["text"])
                continue
            try:
                chunk = _read_chunk(message.get("bytes") or b"")
                # Runs in a thread: a long chunk must not stall the other connections.
                outputs = await asyncio.to_thread(stream.push, chunk)
            except (OrtkitError, ValueError) as error:
                await websocket.send_text(json.dumps({"error": str(error).splitlines()[0]}))
                continue
            try:
                await websocket.send_bytes(_npz(outputs))
            except WebSocketDisconnect:
                return

    async def _control(self, websocket: WebSocket, stream: Any, text: str) -> None:
        try:
            command = json.loads(text)
        except ValueError:
            command = None
        if isinstance(command, dict) and command.get("reset") is True:
            stream.reset()
            await websocket.send_text(json.dumps({"reset": True}))
        else:
            await websocket.send_text(json.dumps({"error": 'text messages are control commands: {"reset": true}'}))


def _read_chunk(data: bytes) -> Any:
    """An ``.npy`` array or an ``.npz`` dict of arrays; never unpickles objects."""
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as error:  # numpy raises several types for bytes that are not .npy/.npz
        raise ValueError(f"a binary message must be .npy or .npz bytes: {error}") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        return {name: loaded[name] for name in loaded.files}


def _npz(outputs: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **outputs)
    return buffer.getvalue()

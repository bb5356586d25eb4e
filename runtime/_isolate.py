"""``Runtime(model, isolate=True)``: the onnxruntime session lives in a child process.

An onnxruntime kernel that aborts (SIGABRT), crashes or hangs takes the child down, not the
application: the host sees `ModelRejected` (while loading) or `RunFailed` (while running), and the
next `run` starts a fresh child. The price is a process start (about a second) at load and after
each crash, and a copy of the inputs and outputs through a pipe per call; calls from several
threads are served one at a time.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
from multiprocessing.connection import Connection
from dataclasses import dataclass
from typing import Any

from ortkit.base import OrtkitError
from ortkit.runtime._errors import InputError, ModelRejected, ProviderUnavailable, RunFailed
from ortkit.runtime._inputs import TensorInfo

__all__ = ["IsolatedSession", "Description"]

_ERRORS: dict[str, type[OrtkitError]] = {
    cls.__name__: cls for cls in (InputError, ModelRejected, ProviderUnavailable, RunFailed)
}
# Loading in the child includes a Python start and the imports of onnx and onnxruntime.
_LOAD_TIMEOUT = 300.0


@dataclass(frozen=True)
class Description:
    """What the child's session reports, for the host's `Runtime` properties."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    providers: list[str]
    assignment: dict[str, int]
    ops_per_ep: dict[str, dict[str, int]]


class IsolatedSession:
    """A child process holding a `Runtime` built from ``data``; `run` sends it checked feeds."""

    def __init__(self, data: bytes, options: dict[str, Any], where: str, timeout: float | None) -> None:
        self._data = data
        self._options = options
        self._where = where
        self._timeout = timeout
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Any = None
        self._send_conn: Any = None
        self.description = self._start(loading=True)

    def _start(self, loading: bool) -> Description:
        # A plain interpreter, not multiprocessing's spawn: spawn re-imports the application's
        # __main__, which breaks scripts that lack an ``if __name__ == "__main__"`` guard.
        self._stderr = tempfile.TemporaryFile()
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                close_fds=True,
            )
        except OSError as error:  # no interpreter at sys.executable (an embedded Python), no processes left
            error_type = ModelRejected if loading else RunFailed
            raise error_type(f"cannot start the isolated process for {self._where} ({sys.executable}): {error}") from None
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        self._send_conn = Connection(os.dup(process.stdin.fileno()), readable=False)
        self._conn = Connection(os.dup(process.stdout.fileno()), writable=False)
        process.stdin.close()
        process.stdout.close()
        try:
            self._send_conn.send((list(sys.path), self._data, self._options))
        except OSError:
            pass  # the child is gone already: _receive says how
        reply = self._receive(_LOAD_TIMEOUT, "loading")
        if reply[0] == "error":
            self._stop()
            raise _rebuild(reply[1], reply[2], ModelRejected)
        return reply[1]  # type: ignore[no-any-return]

    def run(self, output_names: list[str], feed: dict[str, Any]) -> list[Any]:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start(loading=False)
            try:
                self._send_conn.send((output_names, feed))
            except (OSError, ValueError, pickle.PicklingError) as error:  # the child died between two calls, or a feed that will not pickle
                self._stop()
                raise RunFailed(f"cannot hand the inputs to the isolated process for {self._where}: {error}") from None
            reply = self._receive(self._timeout, "running")
        if reply[0] == "error":
            raise _rebuild(reply[1], reply[2], RunFailed)
        return reply[1]

    def _receive(self, timeout: float | None, doing: str) -> tuple[Any, ...]:
        error_type = ModelRejected if doing == "loading" else RunFailed
        try:
            ready = self._conn.poll(timeout)
            if ready:
                return self._conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            ready = True
        if not ready:
            self._stop()
            raise error_type(f"onnxruntime did not finish {doing} {self._where} within {timeout:g} s; the isolated process was stopped")
        code = self._stop()
        said = self._last_stderr_line()
        raise error_type(
            f"onnxruntime ended the isolated process while {doing} {self._where} ({_describe(code)}"
            f"{': ' + said if said else ''}); the application is unaffected"
        )

    def _last_stderr_line(self) -> str:
        try:
            self._stderr.seek(0)
            lines = [line.strip() for line in self._stderr.read()[-4000:].decode("utf-8", "replace").splitlines()]
        except (OSError, ValueError):
            return ""
        lines = [line for line in lines if line]
        return lines[-1][:200] if lines else ""

    def _stop(self) -> int | None:
        process, self._process = self._process, None
        for conn in (self._conn, self._send_conn):
            if conn is not None:
                conn.close()
        self._conn = self._send_conn = None
        if process is None:
            return None
        try:
            return process.wait(2.0)  # type: ignore[no-any-return]
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._lock:
            if self._send_conn is not None:
                try:
                    self._send_conn.send(None)
                except (OSError, ValueError):
                    pass
            self._stop()


def _describe(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _rebuild(name: str, message: str, default: type[OrtkitError]) -> OrtkitError:
    return _ERRORS.get(name, default)(message)


# The child's first lines: the channel is stdin/stdout; stdout is then pointed at stderr, so that
# anything a library prints cannot corrupt the channel.
_CHILD = """
import os, sys
from multiprocessing.connection import Connection
receive = Connection(os.dup(0), writable=False)
send = Connection(os.dup(1), readable=False)
os.dup2(2, 1)
path, data, options = receive.recv()
sys.path[:] = path
from ortkit.runtime._isolate import _serve
_serve(receive, send, data, options)
"""


def _serve(receive: Connection, conn: Connection, data: bytes, options: dict[str, Any]) -> None:
    """The child: build the session, describe it, then answer run requests until told to stop."""
    from ortkit.runtime._runtime import Runtime

    try:
        rt = Runtime(data, isolate=False, **options)
    except OrtkitError as error:
        conn.send(("error", type(error).__name__, str(error)))
        return
    except Exception as error:  # a bug on this side: still one line for the host
        conn.send(("error", "ModelRejected", f"{type(error).__name__}: {error}"))
        return
    conn.send(("ok", Description(rt.inputs, rt.outputs, rt.providers, rt.node_assignment, rt.node_assignment_ops)))
    while True:
        try:
            message = receive.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        output_names, feed = message
        try:
            outputs = rt._execute(output_names, feed)
        except OrtkitError as error:
            conn.send(("error", type(error).__name__, str(error)))
            continue
        except Exception as error:
            conn.send(("error", "RunFailed", f"{type(error).__name__}: {error}"))
            continue
        conn.send(("ok", outputs))


"""Capturing what native code (onnxruntime, torch's C++) prints, so that its warnings count as failures."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, Iterator


@contextlib.contextmanager
def capture_native_output(fd: int = 2) -> Iterator[list[str]]:
    """Collect what native code (onnxruntime's logger, the TorchScript exporter's IR dump) writes
    to file descriptor ``fd`` (1 or 2) meanwhile."""
    import sys

    lines: list[str] = []
    stream = sys.stdout if fd == 1 else sys.stderr
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor: nothing to capture
        yield lines
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        _flush(stream)
        os.dup2(sink.fileno(), fd)
        try:
            yield lines
        finally:
            _flush(stream)
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            lines.extend(line for line in text.splitlines() if line.strip())


def _flush(stream: Any) -> None:
    try:
        stream.flush()
    except (OSError, ValueError, AttributeError):
        pass


def capture_native_stderr() -> Any:
    """`capture_native_output` on file descriptor 2."""
    return capture_native_output(2)

"""The exporter's user errors. Each is an `OrtkitError`: the CLI prints its first line, exit 1."""

from __future__ import annotations

from ortkit.base import OrtkitError

__all__ = [
    "ExportError",
    "SourceError",
    "UnsafeCheckpoint",
    "UnsupportedModel",
    "VerificationFailed",
    "StreamingUnsupported",
]


class ExportError(OrtkitError):
    """Base of the exporter's user errors."""


class SourceError(ExportError):
    """The model source cannot be resolved: unknown name, missing file, factory not found,
    unreadable or mismatched checkpoint."""


class UnsafeCheckpoint(SourceError):
    """A checkpoint that would need pickle code execution to load. It is refused, never retried."""


class UnsupportedModel(ExportError):
    """No exporter could convert the model (an op it cannot handle, a trace failure)."""


class StreamingUnsupported(ExportError):
    """A streaming export was asked for a model that cannot be streamed (non-causal, or a
    structure the streaming converter does not know)."""


class VerificationFailed(ExportError):
    """The exported model does not provably compute what the PyTorch model computes.

    ``str(error)`` is one line; ``error.table`` is the full table of failed checks, per exporter
    tried, for the CLI to print before that line.
    """

    def __init__(self, message: str, table: str = "", attempts: tuple = ()) -> None:
        super().__init__(message)
        self.table = table
        self.attempts = attempts

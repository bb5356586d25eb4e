"""The runtime's user errors. Each is an `OrtkitError`, so the CLI prints it as one line."""

from __future__ import annotations

from ortkit.base import OrtkitError

__all__ = ["ModelRejected", "InputError", "ProviderUnavailable", "NotStreamable", "RunFailed"]


class ModelRejected(OrtkitError):
    """The model file is unsafe or unreadable: an external-data reference that escapes its folder,
    goes through a symlink or a hard link, points outside its file, or bytes that are not ONNX."""


class InputError(OrtkitError, ValueError):
    """An input does not match the model's signature (name, dtype, rank, dims). Also a
    `ValueError`, so code written against raw onnxruntime keeps catching it."""


class ProviderUnavailable(OrtkitError):
    """An execution provider that was asked for is not installed, did not load, or is not the one
    running the model (including nodes that fell back to the CPU)."""


class NotStreamable(OrtkitError):
    """`Runtime.stream()` on a model that is not a streaming export."""


class RunFailed(OrtkitError):
    """onnxruntime failed while running a model whose inputs passed the signature checks (for
    example a shape the graph cannot handle internally). The message carries onnxruntime's."""

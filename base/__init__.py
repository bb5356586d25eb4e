"""The bottom layer of ortkit: what every other layer shares and nothing of ortkit's own.

Errors (`OrtkitError` for users, `InternalError` for bugs), the installed version, file hashing,
the CPU's name and the message for a missing onnxruntime. This package imports nothing from the
rest of ortkit and nothing heavier than the standard library, so the torch-free runtime, the
profiler's worker and the CLI's start-up can all depend on it.
"""

from __future__ import annotations

from ortkit.base._errors import InternalError, OrtkitError, UsageError
from ortkit.base._factory import FactoryError, absolute_source, import_factory
from ortkit.base._hashing import file_sha256
from ortkit.base._machine import cpu_model
from ortkit.base._version import ONNXRUNTIME_MISSING, ortkit_version

__all__ = [
    "FactoryError",
    "absolute_source",
    "import_factory",
    "InternalError",
    "ONNXRUNTIME_MISSING",
    "OrtkitError",
    "UsageError",
    "cpu_model",
    "file_sha256",
    "ortkit_version",
]

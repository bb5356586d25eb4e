"""ortkit: export recurrent and convolutional PyTorch models to ONNX, verify, serve and profile them.

This folder is the application layer (the CLI, the study, sweep files, reports) and the package's
front door. The public API of the layers below is re-exported here lazily: ``import ortkit``
imports neither torch nor onnxruntime, so the CLI starts fast, the runtime wrapper works on
machines without torch, and the model zoo works on machines without onnxruntime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ortkit.base import ONNXRUNTIME_MISSING, InternalError, OrtkitError, UsageError, ortkit_version

__version__ = ortkit_version()

# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    "Runtime": "ortkit.runtime",
    "InputError": "ortkit.runtime",
    "ModelRejected": "ortkit.runtime",
    "ProviderUnavailable": "ortkit.runtime",
    "create_model": "ortkit.models",
    "list_models": "ortkit.models",
    "get_spec": "ortkit.models",
    "register_model": "ortkit.models",
    "export": "ortkit.exporter",
}

__all__ = ["ONNXRUNTIME_MISSING", "OrtkitError", "UsageError", "InternalError", "__version__", *sorted(_LAZY)]

if TYPE_CHECKING:  # pragma: no cover
    from ortkit.exporter import export
    from ortkit.models import create_model, get_spec, list_models, register_model
    from ortkit.runtime import InputError, ModelRejected, ProviderUnavailable, Runtime


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ortkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

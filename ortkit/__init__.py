"""ortkit: export recurrent and convolutional PyTorch models to ONNX, verify, serve and profile them.

The public API is re-exported here lazily: ``import ortkit`` imports neither torch nor
onnxruntime, so the CLI starts fast and the runtime wrapper works on machines without torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ortkit._errors import InternalError, OrtkitError, UsageError

ONNXRUNTIME_MISSING = (
    "ortkit needs one onnxruntime distribution and none is installed: "
    "pip install 'ortkit[cpu]' (onnxruntime), 'ortkit[gpu]' (onnxruntime-gpu) "
    "or 'ortkit[openvino]' (onnxruntime-openvino); install only one of them."
)

# The `ortkit` console script imports this package before its own code runs, so raising here would
# show the user a traceback: the CLI instead reports the missing distribution in one line when a
# command needs it, and `ortkit env` still works to diagnose the environment.
if importlib.util.find_spec("onnxruntime") is None and Path(sys.argv[0] if sys.argv else "").name != "ortkit":
    raise ImportError(ONNXRUNTIME_MISSING)

__version__ = "0.1.0"

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

__all__ = ["OrtkitError", "UsageError", "InternalError", "__version__", *sorted(_LAZY)]

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

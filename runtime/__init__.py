"""The embeddable session wrapper: safe loading, explicit execution providers, checked inputs,
thread-safe fast runs and streaming, on top of onnxruntime.

Imports only numpy, onnx, onnxruntime and `ortkit._errors`: it installs and runs on a machine
without torch.
"""

from __future__ import annotations

import importlib.util

# The same text as ortkit.ONNXRUNTIME_MISSING, kept here so this package depends on nothing else
# in ortkit (a test checks that the two agree).
ONNXRUNTIME_MISSING = (
    "ortkit needs one onnxruntime distribution and none is installed: "
    "pip install 'ortkit[cpu]' (onnxruntime), 'ortkit[gpu]' (onnxruntime-gpu) "
    "or 'ortkit[openvino]' (onnxruntime-openvino); install only one of them."
)

if importlib.util.find_spec("onnxruntime") is None:
    raise ImportError(ONNXRUNTIME_MISSING, name="onnxruntime")

from ortkit.runtime._errors import InputError, ModelRejected, NotStreamable, ProviderUnavailable  # noqa: E402
from ortkit.runtime._inputs import TensorInfo  # noqa: E402
from ortkit.runtime._inspect import FlopCount, ModelReport, count_flops, inspect_model  # noqa: E402
from ortkit.runtime._providers import AUTO_ORDER, available_providers, parse_ep_libraries  # noqa: E402
from ortkit.runtime._runtime import Runtime  # noqa: E402
from ortkit.runtime._safe_load import load_model_safely  # noqa: E402
from ortkit.runtime._stream import Stream  # noqa: E402

__all__ = [
    "AUTO_ORDER",
    "FlopCount",
    "InputError",
    "ModelRejected",
    "ModelReport",
    "NotStreamable",
    "parse_ep_libraries",
    "ProviderUnavailable",
    "Runtime",
    "Stream",
    "TensorInfo",
    "available_providers",
    "count_flops",
    "inspect_model",
    "load_model_safely",
]

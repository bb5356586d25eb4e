"""The embeddable session wrapper: safe loading, explicit execution providers, checked inputs,
thread-safe fast runs and streaming, on top of onnxruntime.

Imports only numpy, onnx, onnxruntime and `ortkit.base`: it installs and runs on a machine
without torch.
"""

from __future__ import annotations

import importlib.util

from ortkit.base import ONNXRUNTIME_MISSING

if importlib.util.find_spec("onnxruntime") is None:
    raise ImportError(ONNXRUNTIME_MISSING, name="onnxruntime")

from ortkit.runtime._errors import InputError, ModelRejected, NotStreamable, ProviderUnavailable, RunFailed  # noqa: E402
from ortkit.runtime._inputs import TensorInfo  # noqa: E402
from ortkit.runtime._inspect import FlopCount, ModelReport, count_flops, inspect_model  # noqa: E402
from ortkit.runtime._providers import AUTO_ORDER, available_providers, parse_ep_libraries  # noqa: E402
from ortkit.runtime._feeds import random_array, random_feeds  # noqa: E402
from ortkit.runtime._metadata import METADATA_KEYS, OrtkitMetadata, StateSpec, metadata_props, read_metadata  # noqa: E402
from ortkit.runtime._providers import EP_ALIASES, canonical_ep, is_known_provider, provider_name, short_ep_name  # noqa: E402
from ortkit.runtime._runtime import THREADS_PER_CORE, Runtime  # noqa: E402
from ortkit.runtime._safe_load import load_model_safely  # noqa: E402
from ortkit.runtime._stream import Stream  # noqa: E402
from ortkit.runtime._files import MAX_RANDOM_BYTES, RunSummary, ValueSummary, check_shape_names, parse_providers, parse_shapes, run_model_files  # noqa: E402
from ortkit.runtime._limits import usable_cores  # noqa: E402
from ortkit.runtime._tuning import (  # noqa: E402
    SessionSettings,
    SettingsError,
    TunedChoice,
    TunedGain,
    TunedProfile,
    TunedProfileError,
    TunedProfileMismatch,
    TunedTarget,
    load_tuned_profile,
)

__all__ = [
    "AUTO_ORDER",
    "available_providers",
    "canonical_ep",
    "EP_ALIASES",
    "is_known_provider",
    "provider_name",
    "short_ep_name",
    "count_flops",
    "FlopCount",
    "InputError",
    "inspect_model",
    "load_model_safely",
    "METADATA_KEYS",
    "metadata_props",
    "ModelRejected",
    "ModelReport",
    "NotStreamable",
    "OrtkitMetadata",
    "parse_ep_libraries",
    "parse_providers",
    "parse_shapes",
    "ProviderUnavailable",
    "random_array",
    "random_feeds",
    "read_metadata",
    "run_model_files",
    "RunFailed",
    "RunSummary",
    "ValueSummary",
    "check_shape_names",
    "Runtime",
    "StateSpec",
    "Stream",
    "TensorInfo",
    "THREADS_PER_CORE",
    "MAX_RANDOM_BYTES",
    "usable_cores",
    "SessionSettings",
    "SettingsError",
    "TunedChoice",
    "TunedGain",
    "TunedProfile",
    "TunedProfileError",
    "TunedProfileMismatch",
    "TunedTarget",
    "load_tuned_profile",
]

from __future__ import annotations

from importlib import metadata

#: What every layer says when the onnxruntime module is missing: the three distributions provide
#: the same module and exclude each other, so the user must pick one.
ONNXRUNTIME_MISSING = (
    "ortkit needs one onnxruntime distribution and none is installed: "
    "pip install 'ortkit[cpu]' (onnxruntime), 'ortkit[gpu]' (onnxruntime-gpu) "
    "or 'ortkit[openvino]' (onnxruntime-openvino); install only one of them."
)


def ortkit_version() -> str:
    """The installed distribution's version: the one source of truth is pyproject.toml."""
    try:
        return metadata.version("ortkit")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"

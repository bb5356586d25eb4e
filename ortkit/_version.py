from __future__ import annotations

from importlib import metadata


def ortkit_version() -> str:
    try:
        return metadata.version("ortkit")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"

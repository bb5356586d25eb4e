"""Serving: ortkit's runtime inside a real service.

`app` builds an ASGI application (Starlette) that speaks the Open Inference Protocol (KServe v2
REST, as Triton and KServe do) over `ortkit.runtime.Runtime`, with dynamic batching, WebSocket
streaming sessions for streaming exports and Prometheus metrics; `ortkit serve` runs it under
uvicorn. `write_triton_repository` writes a Triton model repository for the same files, and
`ortkit.serve.ray` deploys the app on Ray Serve. See docs/serving.md.

Starlette is imported only when `app` is first used, so the Triton writer needs no web stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ortkit.serve._errors import BadRequest, ServeError, UnknownModel
from ortkit.serve._models import ServedModel, ServeOptions, load_models, model_label, oversubscription
from ortkit.serve._triton import TritonOptions, TritonRepository, write_triton_repository

_LAZY = {"app": "ortkit.serve._app", "serve_forever": "ortkit.serve._server"}

__all__ = [
    "BadRequest",
    "ServeError",
    "ServeOptions",
    "ServedModel",
    "TritonOptions",
    "TritonRepository",
    "UnknownModel",
    "app",
    "load_models",
    "model_label",
    "oversubscription",
    "serve_forever",
    "write_triton_repository",
]

if TYPE_CHECKING:  # pragma: no cover
    from ortkit.serve._app import app
    from ortkit.serve._server import serve_forever


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ortkit.serve' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

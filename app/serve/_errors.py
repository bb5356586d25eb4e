"""The server's user errors."""

from __future__ import annotations

from ortkit.base import OrtkitError, UsageError

__all__ = ["BadRequest", "ServeError", "UnknownModel"]


class ServeError(UsageError):
    """A server that cannot be built as asked: no models, two models with one name, a bad option."""


class BadRequest(OrtkitError):
    """A request that does not follow the protocol (malformed JSON, unknown datatype, data that
    does not fill its shape). Answered with HTTP 400 and this message."""


class UnknownModel(OrtkitError):
    """A request for a model the server does not serve (HTTP 404)."""

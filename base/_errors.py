"""The two kinds of failure ortkit distinguishes.

`OrtkitError` is a user error: a bad file, option, model name or input. Its message says what was
asked, what exists and how to fix it, and the CLI prints it as one line. Anything else that escapes
is a bug in ortkit and is reported as such. This module sits at the package root (not in a
subpackage) because every layer, including the torch-free runtime, raises these.
"""

from __future__ import annotations

__all__ = ["OrtkitError", "UsageError", "InternalError"]


class OrtkitError(Exception):
    """A user error. The CLI prints ``str(error)`` on one line and exits with ``exit_code``."""

    exit_code: int = 1


class UsageError(OrtkitError):
    """A command line that cannot be carried out as written (bad option value, conflicting flags)."""

    exit_code = 2


class InternalError(RuntimeError):
    """A bug in ortkit: an invariant broke. Never raised for bad user input."""

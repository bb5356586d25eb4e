"""The `ortkit` command line: a thin click shell, one module per command, over the library."""

from __future__ import annotations

from ortkit.cli._main import cli, main

__all__ = ["cli", "main"]

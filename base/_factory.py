"""Import a user's model factory (``file.py:factory`` or ``package.module:factory``).

Shared by the exporter (which exports the module) and the profiler's PyTorch baseline (which
measures the same module): one reading of the source grammar, one set of messages.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from pathlib import Path
from typing import Any, Callable

from ortkit.base._errors import UsageError

__all__ = ["FactoryError", "import_factory", "absolute_source"]


class FactoryError(UsageError):
    """A factory source cannot be imported: bad form, missing file, failing import, no such name."""


def absolute_source(source: str, base: str | Path | None = None) -> str:
    """``file.py:factory`` with the file made absolute (relative to ``base``, default the current
    folder), so the source still resolves from another folder; module sources are unchanged."""
    target, sep, attr = source.rpartition(":")
    if not sep or not target.endswith(".py"):
        return source
    return f"{(Path(base or '.') / target).resolve()}:{attr}"


def import_factory(source: str) -> Callable[..., Any]:
    """The callable ``source`` names.

    Raises:
        FactoryError: with what was asked and what exists (e.g. the callables the file defines).
    """
    target, _, attr = source.rpartition(":")
    if not target or not attr:
        raise FactoryError(f"bad source {source!r}: expected FILE.py:FACTORY or package.module:FACTORY")
    if target.endswith(".py"):
        file = Path(target)
        if not file.is_file():
            raise FactoryError(f"factory file {target!r} does not exist")
        # One module name per file, so two factories of one file share their module.
        name = "ortkit_user_" + hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise FactoryError(f"cannot import {target!r} as a Python file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise FactoryError(f"importing {target!r} failed: {type(error).__name__}: {_first_line(error)}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as error:
            raise FactoryError(f"cannot import module {target!r}: {_first_line(error)}") from None
        except Exception as error:
            raise FactoryError(f"importing {target!r} failed: {type(error).__name__}: {_first_line(error)}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        available = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__)
        hint = f"; callables there: {', '.join(available[:10])}" if available else ""
        raise FactoryError(f"factory {attr!r} not found in {target!r}{hint}")
    return factory


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

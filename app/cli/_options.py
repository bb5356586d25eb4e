"""Option grammars shared by every command, so that one spelling means one thing everywhere."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from ortkit.base import UsageError

__all__ = ["parse_assignments"]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_assignments(items: Sequence[str], option: str = "--set") -> dict[str, Any]:
    """``KEY=VALUE`` items (``--set`` of `export` and `train`, ``--task-option``) -> typed values.

    A value is read as: ``true``/``false`` in any case -> bool; a JSON literal (``32``, ``3e-3``,
    ``[8, 16]``, ``{"a": 1}``, ``"text"``) -> that value; a comma list of numbers (``16,32``) -> a
    list; anything else -> the string as written.

    Raises:
        UsageError: an item without ``=`` or with an empty or malformed key, or a key given twice.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise UsageError(f"bad {option} {item!r}: expected KEY=VALUE, e.g. {option} hidden_size=32")
        if key in out:
            raise UsageError(f"{option} {key} is given twice; give each key once")
        out[key] = parse_value(raw.strip())
    return out


def parse_value(raw: str) -> Any:
    """One value of the grammar above."""
    if raw.lower() in {"true", "false"}:
        return raw.lower() == "true"
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) > 1 and all(_is_number(p) for p in parts):
        return [json.loads(p) for p in parts]
    return raw


def _is_number(text: str) -> bool:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(value, (int, float)) and not isinstance(value, bool)

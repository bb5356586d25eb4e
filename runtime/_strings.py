"""Every string of a model decoded once, at load (and declared dims checked on the way)."""

from __future__ import annotations

import onnx
from onnx import ModelProto

from ortkit.runtime._errors import ModelRejected

__all__ = ["check_strings"]

_DIMENSION = onnx.TensorShapeProto.Dimension.DESCRIPTOR


def check_strings(proto: ModelProto, where: str) -> None:
    """Decode every string field once, so that invalid UTF-8 (which protobuf decodes lazily, on
    first access, as a UnicodeDecodeError wherever that happens to be) is refused here, by field;
    and refuse negative declared dims on the way."""
    stack: list[tuple[str, object]] = [("model", proto)]
    while stack:
        path, message = stack.pop()
        if message.DESCRIPTOR is _DIMENSION and message.HasField("dim_value") and message.dim_value < 0:  # type: ignore[attr-defined]
            # onnx's own shape inference asserts (aborts the process) on some negative dims.
            raise ModelRejected(f"{where}: {path} is {message.dim_value}; a declared dim cannot be negative")  # type: ignore[attr-defined]
        for field in message.DESCRIPTOR.fields:  # type: ignore[attr-defined]
            if field.type == field.TYPE_STRING:
                # protobuf (upb) hands back invalid UTF-8 as bytes instead of str, or raises.
                try:
                    value = getattr(message, field.name)
                    values = list(value) if field.is_repeated else [value]
                    bad = next((v for v in values if not isinstance(v, str)), None)
                    if bad is not None:
                        bytes(bad).decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ModelRejected(
                        f"{where}: {path}.{field.name} is not valid UTF-8 (byte {error.start}); the file is corrupt"
                    ) from None
            elif field.type == field.TYPE_MESSAGE:
                if field.is_repeated:
                    if field.message_type.GetOptions().map_entry:
                        continue  # ONNX has no map fields; a map would be walked as its own entries
                    items = getattr(message, field.name)
                    stack.extend((f"{path}.{field.name}[{i}]{_named(item)}", item) for i, item in enumerate(items))
                elif message.HasField(field.name):  # type: ignore[attr-defined]
                    stack.append((f"{path}.{field.name}", getattr(message, field.name)))


def _named(message: object) -> str:
    # A readable anchor for the path (a node's or tensor's name), when that name itself decodes.
    try:
        name = getattr(message, "name", "") or getattr(message, "key", "")
    except UnicodeDecodeError:
        return ""
    return f" ({_short(name, 40)})" if isinstance(name, str) and name else ""


def _short(text: str, limit: int = 120) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"

"""Turning what a user names on the command line (a file, an export folder, a zoo name) into
model files the profiler can measure. Zoo names are exported here, in the application layer,
because the profiler is a measurement library that never imports the exporter."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ortkit.base import UsageError
from ortkit.profiler import ModelSource, resolve_model

__all__ = ["resolve_models", "export_zoo_model"]


def resolve_models(items: Sequence[str | os.PathLike[str] | ModelSource], export_dir: str | os.PathLike[str]) -> list[ModelSource]:
    """Each item as a `ModelSource`: files and export folders as they are, zoo names exported
    into ``export_dir/<name>`` first (reused when exported before).

    Raises:
        UsageError: an item is neither a file, an export folder nor a zoo model.
    """
    sources = []
    for item in items:
        if isinstance(item, ModelSource):
            sources.append(item)
            continue
        text = os.fspath(item)
        path = Path(text)
        if path.exists() or text.endswith(".onnx") or os.sep in text:
            sources.append(resolve_model(path))
        else:
            sources.append(resolve_model(export_zoo_model(text, export_dir)))
    return sources


def export_zoo_model(name: str, export_dir: str | os.PathLike[str] | None) -> Path:
    """``model.onnx`` of zoo model ``name`` under ``export_dir/name``, exported if not there yet.

    Raises:
        UsageError: torch is missing, or ``name`` is not a zoo model.
    """
    try:
        from ortkit.models import list_models
    except ImportError as error:
        raise UsageError(f"model {name!r} is not a file, and zoo names need torch: {error}") from None
    if name not in list_models():
        raise UsageError(f"model {name!r} is neither an .onnx file nor a zoo model; zoo models: {', '.join(list_models())}")
    from ortkit.exporter import export

    target = Path(export_dir or "ortkit-exports") / name
    if (target / "model.onnx").is_file():
        return target / "model.onnx"  # exported before; its sha256 still identifies it
    result = export(name, target)
    return Path(result.model_path)

"""torch -> ONNX export that provably matches PyTorch at every shape, and its deployment variants.

`export` resolves a source (zoo name, ortkit checkpoint, user factory), exports it with the
TorchScript or dynamo exporter, verifies the file (onnx full check, declared shapes, op inventory,
onnxruntime parity at several shapes), optionally derives FP16 / INT8 / optimized / streaming
variants (each verified), and writes ``model.onnx`` + ``export.json`` atomically. See
docs/exporter.md. Importing this package does not import torch.
"""

from __future__ import annotations

from ortkit.exporter._errors import (
    ExportError,
    SourceError,
    StreamingUnsupported,
    UnsafeCheckpoint,
    UnsupportedModel,
    VerificationFailed,
)
from ortkit.exporter._export import (
    DEFAULT_OPSET,
    EXPORTERS,
    SCHEMA_VERSION,
    Attempt,
    ExportResult,
    VariantResult,
    export,
)
from ortkit.exporter._sources import ModelSource, load_state_dict_file, parse_input_spec, resolve_source
from ortkit.exporter._verify import ParityRow, Tolerance, TOLERANCES, VerifyReport

from ortkit.exporter._render import render_result, short_error

__all__ = [
    "Attempt",
    "DEFAULT_OPSET",
    "export",
    "ExportError",
    "EXPORTERS",
    "ExportResult",
    "load_state_dict_file",
    "ModelSource",
    "ParityRow",
    "parse_input_spec",
    "render_result",
    "resolve_source",
    "SCHEMA_VERSION",
    "short_error",
    "SourceError",
    "StreamingUnsupported",
    "Tolerance",
    "TOLERANCES",
    "UnsafeCheckpoint",
    "UnsupportedModel",
    "VariantResult",
    "VerificationFailed",
    "VerifyReport",
]

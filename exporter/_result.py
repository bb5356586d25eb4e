"""What an export produced: the file, the exporter attempts, the variants, as records written to export.json."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ortkit.exporter._verify import (
    VerifyReport,
)
from ortkit.models import ModelSpec


#: export.json's schema
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Attempt:
    """One exporter tried: whether its file passed verification, and why not."""

    exporter: str
    ok: bool
    reason: str
    report: VerifyReport | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"exporter": self.exporter, "ok": self.ok, "reason": self.reason}


@dataclass(frozen=True)
class VariantResult:
    """A derived file (fp16, int8, optimized, streaming): what it changed and how it verified."""

    kind: str
    file: str
    sha256: str
    verification: VerifyReport
    changes: dict[str, Any] = field(default_factory=dict)
    metric: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "file": self.file, "sha256": self.sha256, "changes": self.changes,
            "metric": self.metric, "verification": self.verification.to_dict(),
        }


@dataclass(frozen=True)
class ExportResult:
    """What `export` wrote and proved. ``report_path`` holds the same as JSON."""

    out_dir: Path
    model_path: Path
    report_path: Path
    spec: ModelSpec
    source: dict[str, Any]
    exporter: str
    opset: int
    attempts: tuple[Attempt, ...]
    verification: VerifyReport
    sha256: str
    parameters: int
    variants: tuple[VariantResult, ...]
    warnings: tuple[str, ...]
    versions: dict[str, str]
    failed_variants: tuple[VariantResult, ...] = ()

    @property
    def files(self) -> dict[str, Path]:
        """kind -> path of every ONNX file written (``fp32`` is ``model.onnx``)."""
        return {"fp32": self.model_path, **{v.kind: self.out_dir / v.file for v in self.variants}}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "file": self.model_path.name,
            "sha256": self.sha256,
            "spec": self.spec.to_dict(),
            "source": self.source,
            "exporter": self.exporter,
            "opset": self.opset,
            "attempts": [a.to_dict() for a in self.attempts],
            "parameters": self.parameters,
            "versions": self.versions,
            "verification": self.verification.to_dict(),
            "parity": [p.to_dict() for p in self.verification.parity],
            "op_inventory": dict(sorted(self.verification.inventory.items())),
            "variants": [v.to_dict() for v in self.variants],
            "failed_variants": [{**v.to_dict(), "file": None, "reason": v.verification.summary()} for v in self.failed_variants],
            "warnings": list(self.warnings),
        }


def versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    from ortkit.base import ortkit_version

    found = {"ortkit": ortkit_version(), "python": platform.python_version(), "torch": torch.__version__,
             "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
    try:
        import onnxscript

        found["onnxscript"] = onnxscript.__version__
    except ImportError:
        pass
    return found

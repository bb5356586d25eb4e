"""Text for the CLI: an `ExportResult` as a short report, and errors cut to one short line."""

from __future__ import annotations

from typing import Any

from ortkit.base import OrtkitError
from ortkit.exporter._errors import ExportError

__all__ = ["render_result", "short_error"]

MAX_ERROR_CHARS = 600


def short_error(error: OrtkitError) -> OrtkitError:
    """The error itself when its first line is short; otherwise a copy of that line cut to
    `MAX_ERROR_CHARS` with the same exit code (a hostile manifest can put 100k characters into a
    message that quotes it)."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    if len(first) <= MAX_ERROR_CHARS and "\n" not in text:
        return error
    if len(first) > MAX_ERROR_CHARS:
        first = first[:MAX_ERROR_CHARS] + f"... ({len(first) - MAX_ERROR_CHARS} more characters)"
    short = ExportError(first)
    short.exit_code = error.exit_code
    return short


def render_result(result: Any) -> str:
    """The export in a few lines: source, exporter (and fallbacks), parity, each variant."""
    spec = result.spec
    lines = [f"exported {spec.name} ({spec.family}, {result.parameters:,} parameters) -> {result.model_path}"]
    for attempt in result.attempts:
        lines.append(f"  exporter {attempt.exporter}: {attempt.reason}")
    lines.append(f"  opset {result.opset}, sha256 {result.sha256[:16]}..., ops: "
                 + ", ".join(f"{op} {n}" for op, n in sorted(result.verification.inventory.items())))
    for row in result.verification.parity:
        lines.append(f"  parity {row.label:<12} {row.shape_text:<16} max abs err {row.max_abs:.2e}")
    for variant in result.variants:
        worst = max((p.max_abs or 0.0 for p in variant.verification.parity), default=0.0)
        lines.append(f"  variant {variant.kind} -> {variant.file}: verified, max abs err {worst:.2e}")
        for note in variant.changes.get("notes", []):
            lines.append(f"    note: {note}")
        if variant.metric:
            m = variant.metric
            lines.append(f"    {m['name']} on {m['task']} {m['split']}: fp32 {m['fp32']:.4f} -> {m['variant']:.4f}")
    for warning in result.warnings:
        lines.append(f"warning: {warning}")
    lines.append(f"  report: {result.report_path}")
    return "\n".join(lines)

"""What verification reports: tolerances per precision, named checks, parity rows, and the report
that renders them as a table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np



@dataclass(frozen=True)
class Tolerance:
    """Allowed |onnx - torch| <= atol + rtol * |torch|, elementwise.

    With ``scaled``, atol is relative to the output's range: it is multiplied by
    max(1, max |torch|) of that output. Quantisation error grows with the range of the values
    quantised, so a trained classifier whose logits reach 10 gets ten times the absolute error
    allowance of an untrained one whose outputs stay near 1.
    """

    atol: float
    rtol: float
    scaled: bool = False

    def atol_for(self, reference: np.ndarray) -> float:
        if not self.scaled or reference.size == 0:
            return self.atol
        return self.atol * max(1.0, float(np.nanmax(np.abs(reference))))

    def to_dict(self) -> dict[str, Any]:
        return {"atol": self.atol, "rtol": self.rtol, "scaled": self.scaled}


# Per precision of the exported file. fp16 stores weights and activations in half precision
# (10-bit mantissa); int8 compares against the float model and allows a quantisation error
# relative to each output's range (15% and 25% of max |output|, at least of 1). The task metric
# before and after quantisation, recorded for trained models, is the accuracy verdict.
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(1e-4, 1e-3),
    "fp16": Tolerance(2e-2, 2e-2),
    "int8-dynamic": Tolerance(0.15, 0.1, scaled=True),
    "int8-static": Tolerance(0.25, 0.15, scaled=True),
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class ParityRow:
    """onnxruntime vs reference at one shape."""

    label: str
    shapes: tuple[tuple[str, tuple[int, ...]], ...]
    ok: bool
    max_abs: float | None
    max_rel: float | None
    tolerance: Tolerance
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "shapes": {k: list(v) for k, v in self.shapes},
            "ok": self.ok,
            "max_abs_err": self.max_abs,
            "max_rel_err": self.max_rel,
            **self.tolerance.to_dict(),
            "error": self.error,
        }

    @property
    def shape_text(self) -> str:
        return " ".join(f"{k}{list(v)}" for k, v in self.shapes)


@dataclass
class VerifyReport:
    """The checks and parity rows of one exported file."""

    subject: str
    checks: list[Check] = field(default_factory=list)
    parity: list[ParityRow] = field(default_factory=list)
    inventory: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and all(p.ok for p in self.parity) and bool(self.parity)

    def failures(self) -> list[str]:
        out = [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]
        out += [f"parity {p.label} ({p.shape_text}): {p.error or f'max abs err {p.max_abs:.3g}'}" for p in self.parity if not p.ok]
        if not self.parity:
            out.append("parity: no shape was compared")
        return out

    def summary(self) -> str:
        failed = self.failures()
        return "passed" if not failed else failed[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [c.to_dict() for c in self.checks],
            "parity": [p.to_dict() for p in self.parity],
            "op_inventory": dict(sorted(self.inventory.items())),
        }

    def table(self) -> str:
        """A plain-text table of every check and parity row (FAIL rows first)."""
        rows: list[tuple[str, str, str]] = []
        for c in self.checks:
            rows.append(("ok" if c.ok else "FAIL", c.name, c.detail))
        for p in self.parity:
            if p.error:
                detail = p.error
            else:
                detail = f"max abs err {p.max_abs:.2e} (atol {p.tolerance.atol:g}, rtol {p.tolerance.rtol:g})"
            rows.append(("ok" if p.ok else "FAIL", f"parity {p.label} {p.shape_text}", detail))
        rows.sort(key=lambda r: r[0] != "FAIL")
        width = max([len(r[1]) for r in rows] + [5])
        lines = [f"{self.subject}:"]
        lines += [f"  {status:<4}  {name:<{width}}  {detail}" for status, name, detail in rows]
        return "\n".join(lines)

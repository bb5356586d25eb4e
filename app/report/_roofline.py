"""Distance to the machine's limit: each model's achieved GFLOP/s against a measured GEMM ceiling.

The ceiling is a large float32 matrix product timed once per environment (numpy, and onnxruntime's
MatMul at the study's thread count), kept in ``ceiling.json`` beside the results database. A
configuration reaching at least half the onnxruntime ceiling is called compute-bound; below a
tenth, latency-bound (per-call overheads and small, dependent steps dominate: the recurrent case);
in between, memory-bound (the arithmetic is there, the data movement limits it). The FLOPs are
counted on the graph at each shape (`ortkit.runtime.count_flops`), exactly for recurrent and
convolutional models; a quantized one counts integer multiply-adds as FLOPs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from ortkit.base import OrtkitError
from ortkit.report._document import Figure, Section, Table
from ortkit.report._reportdata import Row
from ortkit.report._view import View, group_rows, make_series

__all__ = ["Ceiling", "CEILING_FILE", "load_ceilings", "save_ceilings", "roofline_section", "bound_of"]

CEILING_FILE = "ceiling.json"
COMPUTE_BOUND = 0.5
LATENCY_BOUND = 0.1


@dataclass(frozen=True)
class Ceiling:
    """GEMM throughput of one environment: ``n`` x ``n`` float32 products, best of the repeats."""

    environment_key: str
    n: int
    threads: int
    numpy_gflops: float
    ort_gflops: float

    @property
    def peak(self) -> float:
        return max(self.numpy_gflops, self.ort_gflops)


def save_ceilings(path: str | Path, ceilings: Sequence[Ceiling]) -> None:
    try:
        Path(path).write_text(json.dumps([asdict(c) for c in ceilings], indent=1), encoding="utf-8")
    except OSError as error:
        raise OrtkitError(f"cannot write {path}: {error.strerror or error}") from None


def load_ceilings(path: str | Path) -> dict[str, Ceiling]:
    """Ceilings by environment key (none when there is no file)."""
    file = Path(path)
    if not file.is_file():
        return {}
    try:
        return {item["environment_key"]: Ceiling(**item) for item in json.loads(file.read_text(encoding="utf-8"))}
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise OrtkitError(f"{file}: not a readable ceiling file: {error}") from None


def bound_of(fraction: float) -> str:
    if fraction >= COMPUTE_BOUND:
        return "compute-bound"
    return "latency-bound" if fraction < LATENCY_BOUND else "memory-bound"


def _bounds_by_shape(rows: Sequence[Row], ceiling: Ceiling) -> str:
    """Where a model is compute-, memory- or latency-bound, as ranges of T per batch:
    "latency-bound at b=1 T=16-256, memory-bound at b=1 T=1024-4096"."""
    shapes: dict[tuple[str, int], list[int]] = {}
    for row in sorted(rows, key=lambda r: (r.spec.batch, r.spec.time or 0)):
        bound = bound_of((row.gflops_s or 0) / ceiling.ort_gflops)
        shapes.setdefault((bound, row.spec.batch), []).append(int(row.spec.time or 0))
    parts = []
    for (bound, batch), times in shapes.items():
        span = f"T={times[0]}" if len(times) == 1 else f"T={times[0]}-{times[-1]}"
        parts.append(f"{bound} at b={batch} {span}")
    return ", ".join(parts)


def roofline_section(view: View, ceilings: dict[str, Ceiling]) -> Section:
    section = Section(
        "Distance to the machine's limit",
        f"Achieved GFLOP/s (FLOPs counted on the graph / median latency) against the GEMM ceiling measured on the same machine. "
        f"At least {COMPUTE_BOUND:.0%} of the onnxruntime ceiling: compute-bound; under {LATENCY_BOUND:.0%}: latency-bound; "
        "in between: memory-bound.",
    )
    counted = [r for r in view.rows(lambda r: view.offline(r) and r.spec.runner == "ort") if r.gflops_s and r.flops]
    # a lower-bound count (some ops uncounted) would place a model far below where it is: left out, and said
    rows = [r for r in counted if not r.flops_note]
    partial = sorted({r.label() for r in counted if r.flops_note})
    if partial:
        section.notes.append(f"Left out: {', '.join(partial)} (the graph's FLOP count is only a lower bound: some of its ops are not counted).")
    if not ceilings:
        section.notes.append("No GEMM ceiling was measured for these environments (ortkit study measures one): nothing compared.")
        return section
    table = []
    for (where, key), group in sorted(group_rows(rows, lambda r: (view.where(r), r.environment_key)).items()):
        ceiling = ceilings.get(key)
        if ceiling is None:
            section.notes.append(f"{where}: no ceiling measured for environment {key[:6]}.")
            continue
        series = []
        for label, line in sorted(group_rows(group, Row.label).items()):
            line = sorted(line, key=lambda r: (r.flops or 0))
            series.append(make_series(label, [float(r.flops or 0) / 1e6 for r in line], [float(r.gflops_s or 0) for r in line]))
            top = max(line, key=lambda r: r.gflops_s or 0)
            fraction = (top.gflops_s or 0) / ceiling.ort_gflops
            table.append((where, label, f"b={top.spec.batch}, T={top.spec.time}", f"{top.gflops_s:.3g}", f"{fraction:.1%}", bound_of(fraction)))
            section.findings.append(f"On {where}, {label} is {_bounds_by_shape(line, ceiling)}.")
        png = view.plot("budget_figure", series, ceiling.ort_gflops, f"GEMM ceiling {ceiling.ort_gflops:.3g} GFLOP/s\n(onnxruntime, n={ceiling.n})",
                        f"Achieved GFLOP/s on {where}", "MFLOPs per call", "achieved GFLOP/s")
        if png is not None:
            section.figures.append(Figure(f"roofline-{key[:6]}", f"Achieved GFLOP/s per model on {where} against the GEMM ceiling.", png))
        section.findings.append(f"On {where} the GEMM ceiling is {ceiling.ort_gflops:.3g} GFLOP/s with onnxruntime and "
                                f"{ceiling.numpy_gflops:.3g} with numpy ({ceiling.threads} threads, n = {ceiling.n}).")
    if table:
        section.tables.append(Table(("target", "model", "best shape", "GFLOP/s", "of ceiling", "bound"), tuple(table)))
    elif not section.notes:
        section.notes.append("No configuration recorded its FLOPs: nothing compared.")
    return section

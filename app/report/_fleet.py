"""The report section for a database measured on several targets or node kinds: which family
wins where, and whether the nodes of one kind measured alike."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ortkit.report._document import Section, Table
from ortkit.report._reportdata import Row
from ortkit.report._view import View, fmt_ms

def _shape(row: Row) -> tuple[Any, ...]:
    s = row.spec
    return (s.batch, s.time, s.threads, s.chunk, s.concurrency, s.precision)

def _shape_text(shape: tuple[Any, ...]) -> str:
    batch, time, threads, chunk, concurrency, precision = shape
    text = f"b={batch}" + (f" t={time}" if time is not None else "") + f" th={threads if threads is not None else 'default'}"
    text += f" chunk={chunk}" if chunk is not None else ""
    text += f" conc={concurrency}" if concurrency > 1 else ""
    return text + ("" if precision == "fp32" else f" {precision}")

def fleet_section(view: View) -> Section:
    section = Section(
        "Across targets and node kinds",
        "The same models and shapes measured on each target (an EP, a registered target, or a node kind of a Ray cluster): "
        "one row per target, the family that is fastest at each shape measured for two families or more, and the "
        "calibration workload that every node of a fleet sweep runs before its cells.",
    )
    rows = view.rows(lambda r: r.spec.runner == "ort" and r.ok)
    by_target: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_target[view.where(row)].append(row)
    calibrations = _calibrations(view)
    if len(by_target) < 2 and not calibrations:
        section.notes.append("One target only: nothing to compare across targets.")
        return section
    table_rows = []
    for where in sorted(by_target):
        target_rows = by_target[where]
        kind = dict(target_rows[0].spec.tags).get("target")
        nodes = [c for c in calibrations if c.kind == kind]
        wins = _family_wins(view, target_rows)
        won = ", ".join(f"{family} {count}/{total}" for family, (count, total) in sorted(wins.items())) or "-"
        spread = (f"{fmt_ms(min(c.p50_ms for c in nodes))} to {fmt_ms(max(c.p50_ms for c in nodes))}" if nodes else "-")
        table_rows.append((where, str(len(nodes)) if nodes else "-", str(len(target_rows)), won, spread))
        if wins:
            best = max(wins.items(), key=lambda item: item[1][0])
            section.findings.append(f"On {where}, the {best[0]} family is fastest at {best[1][0]} of {best[1][1]} shapes measured for several families.")
    section.tables.append(Table(("target", "nodes", "configurations", "fastest family (shapes won)", "calibration median per node"),
                                tuple(table_rows)))
    section.tables.extend(_pairs(view, by_target))
    from ortkit.fleet import flag_nodes

    for flag in flag_nodes(calibrations):
        section.findings.append("Node equivalence: " + flag.describe() + "; its numbers may carry the node's slowness, not the model's.")
    return section

def _calibrations(view: View) -> list[Any]:
    from ortkit.fleet import read_calibrations

    return read_calibrations(view.dataset.source) if view.dataset.source else []

def _family_wins(view: View, rows: list[Row]) -> dict[str, tuple[int, int]]:
    """family -> (shapes where it is fastest, shapes measured for two families or more)."""
    by_shape: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
    for row in rows:
        family = view.family(row)
        if family is None:
            continue
        best = by_shape[_shape(row)].get(family)
        by_shape[_shape(row)][family] = row.median_ms if best is None else min(best, row.median_ms)
    contested = [families for families in by_shape.values() if len(families) > 1]
    wins: dict[str, tuple[int, int]] = {}
    for family in sorted({f for families in contested for f in families}):
        count = sum(1 for families in contested if min(families, key=families.__getitem__) == family)
        wins[family] = (count, len(contested))
    return wins

def _pairs(view: View, by_target: dict[str, list[Row]]) -> list[Table]:
    """Each model and shape measured on two targets or more: its median on each."""
    targets = sorted(by_target)
    if len(targets) < 2:
        return []
    cells: dict[tuple[str, tuple[Any, ...]], dict[str, float]] = defaultdict(dict)
    for where, rows in by_target.items():
        for row in rows:
            cells[(row.base, _shape(row))][where] = row.median_ms
    out = []
    for (base, shape), medians in sorted(cells.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        if len(medians) < 2:
            continue
        fastest = min(medians, key=medians.__getitem__)
        out.append((base, _shape_text(shape), *(fmt_ms(medians[t]) if t in medians else "-" for t in targets), fastest,
                    f"{max(medians.values()) / medians[fastest]:.2f}x"))
    if not out:
        return []
    return [Table(("model", "shape", *targets, "fastest", "slowest / fastest"), tuple(out))]

__all__ = ["fleet_section"]

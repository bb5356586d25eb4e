"""What tuning bought: tuned configurations (`ortkit tune` profiles measured by the study, tagged
``tuned``) against the default configuration and PyTorch at the same shape, and the confirmation
rounds of `ortkit tune` runs (tagged ``tune=confirm``) that a results database holds."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ortkit.profiler import ratio_between
from ortkit.report._document import Section, Table
from ortkit.report._reportdata import Row
from ortkit.report._view import View, caveat, fmt_ms, fmt_ratio

__all__ = ["tuning_section"]


def _shape_key(row: Row) -> tuple[Any, ...]:
    s = row.spec
    return (row.environment_key, row.base, s.batch, s.time, s.chunk, s.concurrency)


def _choice(row: Row) -> str:
    s = row.spec
    parts = [s.precision, f"{s.threads or 'default'} thr"] + [f"{k}={v}" for k, v in s.session] + [f"{k}={v}" for k, v in s.ep_options]
    if s.optimization != "all":
        parts.append(f"opt {s.optimization}")
    return ", ".join(parts)


def _defaults(view: View) -> dict[tuple[Any, ...], Row]:
    """The default configuration per shape: fp32, untuned session; of several thread counts,
    the most threads (the study's own setting)."""
    found: dict[tuple[Any, ...], Row] = {}
    for row in view.rows(lambda r: r.spec.runner == "ort" and r.spec.precision == "fp32" and not r.spec.session and not r.spec.ep_options):
        key = (*_shape_key(row), view.where(row))
        if key not in found or (row.spec.threads or 0) > (found[key].spec.threads or 0):
            found[key] = row
    return found


def tuning_section(view: View) -> Section:
    section = Section(
        "What tuning bought",
        "Each model's `ortkit tune` configuration (EP options, session settings, precision chosen per shape group under the "
        "accuracy constraint) against its default configuration (fp32, untuned session) and PyTorch eager at the same shape, "
        "all measured side by side in the same interleaved rounds. Gain = default latency / tuned latency (> 1: tuning helped); "
        "vs PyTorch = PyTorch latency / tuned latency; medians of per-round ratios with bootstrap 95% intervals.",
    )
    tuned = view.tuning_rows(lambda r: r.spec.runner == "ort" and "tuned" in dict(r.spec.tags))
    defaults = _defaults(view)
    torch = {(*_shape_key(r), r.spec.ep): r for r in view.rows(lambda r: r.spec.runner == "torch-eager")}
    table, by_family = [], defaultdict(list)
    for row in sorted(tuned, key=lambda r: (view.where(r), r.base, r.spec.batch, r.spec.time or 0)):
        default = defaults.get((*_shape_key(row), view.where(row)))
        if default is None:
            continue
        gain = ratio_between(default, row)
        baseline = torch.get((*_shape_key(row), "cpu")) if row.spec.ep == "cpu" else None
        versus = ratio_between(baseline, row) if baseline is not None else None
        by_family[(view.where(row), view.family(row) or "unknown")].append((gain, row, default))
        table.append((view.where(row), row.base, f"b={row.spec.batch} t={row.spec.time}", _choice(row), fmt_ms(default.median_ms),
                      fmt_ms(row.median_ms), f"{fmt_ratio(gain.estimate)} [{gain.low:.2f}, {gain.high:.2f}]",
                      "-" if versus is None else f"{fmt_ratio(versus.estimate)} [{versus.low:.2f}, {versus.high:.2f}]"))
    for (where, family), items in sorted(by_family.items()):
        ratios = [g.estimate for g, _, _ in items]
        helped = sum(g.low > 1.0 for g, _, _ in items)
        section.findings.append(
            f"On {where}, tuning made the {family} models {fmt_ratio(float(np.median(ratios)))} as fast as their defaults "
            f"(median over {len(ratios)} shapes, range {min(ratios):.2f} to {max(ratios):.2f}; a confident gain at {helped})."
            + caveat([r for _, a, b in items for r in (a, b)]))
    if table:
        section.tables.append(Table(("target", "model", "shape", "tuned choice", "default", "tuned", "gain [95% CI]",
                                     "vs PyTorch [95% CI]"), tuple(table)))
    _confirmations(view, section)
    if not section.tables:
        section.notes.append("No tuned configuration was measured (enable `[tune]` in the study file, or run `ortkit tune`).")
    return section


def _confirmations(view: View, section: Section) -> None:
    """`ortkit tune`'s confirmation rounds: the race's winner against the default, fresh processes."""
    rows = view.tuning_rows(lambda r: dict(r.spec.tags).get("tune") == "confirm")
    pairs: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        pairs[(row.environment_key, row.spec.model_label, row.spec.batch, row.spec.time)].append(row)
    table = []
    for (_, label, batch, time), found in sorted(pairs.items(), key=lambda kv: str(kv[0])):
        default = next((r for r in found if r.spec.threads is None and not r.spec.session and r.spec.precision == "fp32"
                        and r.spec.optimization == "all" and not r.spec.ep_options), None)
        winner = next((r for r in found if r is not default), None)
        if default is None or winner is None:
            continue
        gain = ratio_between(default, winner)
        table.append((label, f"b={batch} t={time}", _choice(winner), fmt_ms(default.median_ms), fmt_ms(winner.median_ms),
                      f"{fmt_ratio(gain.estimate)} [{gain.low:.2f}, {gain.high:.2f}]", "confirmed" if gain.low > 1.0 else "no confident gain"))
    if table:
        section.tables.append(Table(("model", "raced at", "race winner", "default", "winner", "gain [95% CI]", "outcome"), tuple(table)))

"""Report sections that compare variants of one model: precisions, and onnxruntime against PyTorch."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ortkit.profiler import ratio_between
from ortkit.report._document import Figure, Section, Table
from ortkit.report._reportdata import Row
from ortkit.report._view import (
    View,
    caveat,
    fmt_ms,
    fmt_ratio,
    group_rows,
    make_series,
)


def _pair_key(row: Row) -> tuple[Any, ...]:
    s = row.spec
    return (row.environment_key, row.target, row.base, s.batch, s.time, s.threads, s.chunk, s.concurrency)


def precision_section(view: View) -> Section:
    section = Section(
        "INT8 and FP16: speed-up and accuracy change",
        "Each quantized or half-precision file against its FP32 original at the same shape and target. "
        "Speed-up = FP32 latency / variant latency, paired: the median of per-round ratios of the two files measured "
        "side by side in the same interleaved rounds, with a bootstrap 95% interval over rounds "
        "(unpaired, from each side's round or process medians, where they share no round).",
    )
    rows = view.rows(lambda r: r.spec.runner == "ort")
    fp32 = {_pair_key(r): r for r in rows if r.spec.precision == "fp32"}
    variants = [r for r in rows if r.spec.precision != "fp32" and _pair_key(r) in fp32]
    table_rows = []
    summary: dict[tuple[str, str, str], list[tuple[float, Row, Row]]] = defaultdict(list)
    for row in sorted(variants, key=lambda r: (view.where(r), r.base, r.spec.precision, r.spec.batch, r.spec.time or 0, r.spec.chunk or 0)):
        base = fp32[_pair_key(row)]
        estimate = ratio_between(base, row)
        summary[(view.where(row), row.base, row.spec.precision)].append((estimate.estimate, base, row))
        shape = f"b={row.spec.batch} t={row.spec.time}" + (f" chunk={row.spec.chunk}" if row.spec.chunk else "")
        table_rows.append((view.where(row), row.base, row.spec.precision, shape, fmt_ms(base.median_ms), fmt_ms(row.median_ms),
                           f"{fmt_ratio(estimate.estimate)} [{estimate.low:.2f}, {estimate.high:.2f}]" + ("" if estimate.paired else " unpaired")))
    for (where, base_name, precision), items in sorted(summary.items()):
        ratios = [item[0] for item in items]
        sentence = (f"On {where}, {precision} {base_name} is {fmt_ratio(float(np.median(ratios)))} the speed of FP32 "
                    f"(median over {len(ratios)} shape{'s' if len(ratios) > 1 else ''}, range {min(ratios):.2f} to {max(ratios):.2f})")
        acc_base, acc_variant = view.dataset.accuracy_of(items[0][1]), view.dataset.accuracy_of(items[0][2])
        if acc_base is not None and acc_variant is not None:
            sentence += (f"; {acc_base.metric} {acc_base.value:.4g} -> {acc_variant.value:.4g} "
                         f"({acc_variant.value - acc_base.value:+.3g})")
        else:
            sentence += "; accuracy change not recorded"
        section.findings.append(sentence + "." + caveat([r for item in items for r in item[1:]]))
    if table_rows:
        section.tables.append(Table(("target", "model", "precision", "shape", "FP32", "variant", "speed-up [95% CI]"), tuple(table_rows)))
        series = []
        for (where, base_name, precision), items in sorted(summary.items()):
            items = [i for i in items if i[2].spec.chunk is None and i[2].spec.batch == min(j[2].spec.batch for j in items)]
            items.sort(key=lambda i: i[2].spec.time or 0)
            if items:
                series.append(make_series(f"{base_name} {precision} ({where}, b={items[0][2].spec.batch})",
                                      [float(i[2].spec.time or 0) for i in items], [i[0] for i in items]))
        png = view.plot("line_figure", series, "Speed-up of INT8/FP16 over FP32 (>1: faster)", "sequence length T", "speed-up (x)", logy=True)
        if png is not None:
            section.figures.append(Figure("precision-speedup", "Speed-up of reduced-precision files over FP32.", png))
    else:
        section.notes.append("No INT8 or FP16 file was measured next to its FP32 original: nothing to compare.")
    return section


def torch_section(view: View) -> Section:
    section = Section(
        "onnxruntime vs PyTorch",
        "The same model at the same shape under onnxruntime and under PyTorch, each in its own worker on "
        "this machine, side by side in the same interleaved rounds. Ratio = PyTorch latency / onnxruntime latency "
        "(> 1: onnxruntime is faster), the median of per-round ratios with a bootstrap 95% interval.",
    )
    rows = view.rows(lambda r: view.offline(r) and r.spec.precision == "fp32")
    ort = {(_pair_key(r)[0], r.spec.ep, *_pair_key(r)[2:]): r for r in rows if r.spec.runner == "ort"}
    table_rows = []
    summary: dict[tuple[str, str, str], list[tuple[float, Row]]] = defaultdict(list)
    for row in sorted((r for r in rows if r.spec.runner != "ort"), key=lambda r: (r.base, r.spec.runner, r.spec.batch, r.spec.time or 0)):
        key = (_pair_key(row)[0], row.spec.ep, *_pair_key(row)[2:])
        match = ort.get(key)
        if match is None:
            continue
        estimate = ratio_between(row, match)
        summary[(view.where(match), row.base, row.spec.runner)].append((estimate.estimate, row))
        table_rows.append((view.where(match), row.base, row.spec.runner, f"b={row.spec.batch} t={row.spec.time}", fmt_ms(match.median_ms),
                           fmt_ms(row.median_ms), f"{fmt_ratio(estimate.estimate)} [{estimate.low:.2f}, {estimate.high:.2f}]"
                           + ("" if estimate.paired else " unpaired")))
    panels: dict[str, list[Any]] = defaultdict(list)
    for (where, base_name, runner), items in sorted(summary.items()):
        ratios = [i[0] for i in items]
        median = float(np.median(ratios))
        verdict = "faster" if median > 1 else "slower"
        section.findings.append(
            f"On {where}, onnxruntime runs {base_name} {fmt_ratio(median if median > 1 else 1 / median)} {verdict} than {runner} "
            f"(median over {len(ratios)} shape{'s' if len(ratios) > 1 else ''}; ratio range {min(ratios):.2f} to {max(ratios):.2f})."
            + caveat([r for i in items for r in (i[1], ort[(_pair_key(i[1])[0], i[1].spec.ep, *_pair_key(i[1])[2:])])])
        )
        for batch, batch_items in sorted(group_rows([i[1] for i in items], lambda r: r.spec.batch).items()):
            lookup = {id(i[1]): i[0] for i in items}
            batch_items.sort(key=lambda r: r.spec.time or 0)
            panels[f"batch {batch}"].append(make_series(f"{base_name} vs {runner}", [float(r.spec.time or 0) for r in batch_items],
                                                    [lookup[id(r)] for r in batch_items]))
    if table_rows:
        section.tables.append(Table(("target", "model", "baseline", "shape", "onnxruntime", "PyTorch", "ratio [95% CI]"), tuple(table_rows)))
        png = view.plot("grid_figure", sorted(panels.items(), key=lambda kv: int(kv[0].split()[1])), "PyTorch / onnxruntime latency (>1: onnxruntime faster)",
                                   "sequence length T", "ratio")
        if png is not None:
            section.figures.append(Figure("ort-vs-torch", "Latency ratio of PyTorch to onnxruntime.", png))
    else:
        section.notes.append("No PyTorch baseline was measured next to an onnxruntime result: ratios omitted.")
    return section

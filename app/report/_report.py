"""The study report: figures and findings computed from a results database.

`build_report(dataset)` turns measured rows into sections (figures, tables, sentences);
`write_report(dataset, out_dir)` renders them as Markdown (figures as PNG files beside it) and as
ONE self-contained HTML file (figures inlined as base64 PNG, CSS inline, no script, no network
reference), so the HTML can be mailed or attached to a CI run and still shows everything.

Every sentence under "Findings" is formatted from numbers computed here; a figure with no data is
left out with a note saying so.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ortkit.report import _analysis as analysis
from ortkit.report._reportdata import Dataset, Row, most_common

__all__ = ["Figure", "Table", "Section", "Report", "build_report", "write_report", "render_markdown", "render_html", "ReportPaths"]

N_BOOT = 1000


@dataclass(frozen=True)
class Figure:
    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass
class Section:
    title: str
    intro: str = ""
    findings: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    source: str
    generated: str
    summary: list[str]
    sections: list[Section]

    @property
    def figures(self) -> list[Figure]:
        return [figure for section in self.sections for figure in section.figures]


@dataclass(frozen=True)
class ReportPaths:
    markdown: Path
    html: Path
    figures: tuple[Path, ...]


# -- formatting ----------------------------------------------------------------------------------


def _ms(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 10:
        return f"{value:.1f} ms"
    if value >= 0.1:
        return f"{value:.3f} ms"
    return f"{value * 1000:.1f} us"


def _x(value: float) -> str:
    return f"{value:.2f}x" if math.isfinite(value) else "n/a"


def _mib(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value / 2**20:.1f} MiB"


def _caveat(rows: Iterable[Row]) -> str:
    """A clause saying how many of the measurements behind a sentence are unstable (or nothing)."""
    rows = list(rows)
    unstable = sum(1 for r in rows if r.unstable)
    return f" [{unstable} of {len(rows)} measurements behind this are unstable]" if unstable else ""


def _slug(*parts: Any) -> str:
    text = "-".join(str(p) for p in parts if p is not None)
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-").lower()


# -- grouping ------------------------------------------------------------------------------------


class _View:
    """Labels and canonical choices shared by all sections of one report."""

    def __init__(self, dataset: Dataset, figures: bool = True) -> None:
        self.dataset = dataset
        self.figures = figures
        self.multi_env = len({row.environment_key for row in dataset.rows}) > 1

    def where(self, row: Row) -> str:
        """The target label: EP (and target environment), plus the environment when a database
        holds several, so numbers of different machines are never drawn on one axis unlabelled."""
        return f"{row.target} [env {row.environment_key[:6]}]" if self.multi_env else row.target

    def offline(self, row: Row) -> bool:
        return row.spec.chunk is None and row.spec.concurrency == 1 and row.spec.time is not None

    def family(self, row: Row) -> str | None:
        return self.dataset.family(row)

    def rows(self, predicate: Callable[[Row], bool]) -> list[Row]:
        return self.dataset.select(predicate)

    def plot(self, kind: str, *args: Any, **kwargs: Any) -> bytes | None:
        """Draw with `_plots.<kind>`; without figures (findings only) an empty placeholder stands
        for a figure that would have data, and None still means no data."""
        plots = _plots()
        if self.figures:
            return getattr(plots, kind)(*args, **kwargs)
        return b"" if getattr(plots, "has_data")(kind, *args) else None


def _group(rows: Iterable[Row], key: Callable[[Row], Any]) -> dict[Any, list[Row]]:
    groups: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return dict(groups)


def _canonical_threads(rows: Sequence[Row]) -> Any:
    return most_common(row.spec.threads for row in rows)


def _threads_text(threads: Any) -> str:
    return "default threads" if threads is None else f"{threads} thread{'s' if threads != 1 else ''}"


def _sorted_keys(keys: Iterable[Any]) -> list[Any]:
    return sorted(keys, key=lambda k: tuple("" if v is None else (f"{v:012d}" if isinstance(v, int) else str(v)) for v in (k if isinstance(k, tuple) else (k,))))


# -- sections ------------------------------------------------------------------------------------


def _latency_section(view: _View) -> Section:
    section = Section(
        "Latency vs sequence length",
        "Median latency of one offline call (the whole sequence at once) against sequence length T, "
        "log-log, one panel per batch size; dotted lines are the fitted power laws latency ~ T^k. "
        "Dashed lines are the PyTorch baseline on the same machine.",
    )
    rows = view.rows(lambda r: view.offline(r) and r.spec.precision == "fp32")
    table_rows = []
    for where, group in sorted(_group(rows, view.where).items()):
        threads = _canonical_threads(group)
        group = [r for r in group if r.spec.threads == threads]
        panels = []
        for batch, batch_rows in sorted(_group(group, lambda r: r.spec.batch).items()):
            series = []
            for (label, runner, base), line in sorted(_group(batch_rows, lambda r: (r.label(), r.spec.runner, r.base)).items()):
                line = sorted(line, key=lambda r: r.spec.time or 0)
                times = [float(r.spec.time) for r in line]
                medians = [r.median_ms for r in line]
                fit = analysis.fit_scaling(times, medians)
                ci = [r.stats for r in line]
                name = label if fit is None else f"{label} (T^{fit.exponent:.2f})"
                series.append(
                    _series(name, times, medians, [s.ci_low for s in ci], [s.ci_high for s in ci], dashed=runner != "ort",
                            fit=None if fit is None else (fit.coefficient, fit.exponent), color=base)
                )
                if fit is not None:
                    interval = "n/a" if math.isnan(fit.ci_low) else f"{fit.ci_low:.2f} to {fit.ci_high:.2f}"
                    table_rows.append((where, str(batch), label, f"{fit.exponent:.2f}", interval, f"{fit.r2:.3f}", str(fit.n),
                                       f"{times[0]:g}-{times[-1]:g}"))
                    if runner == "ort" and batch == min(r.spec.batch for r in group):
                        section.findings.append(
                            f"On {where} at batch {batch} ({_threads_text(threads)}), {label} latency grows as "
                            f"{fit.describe().removeprefix('latency ~ ')} over T = {times[0]:g} to {times[-1]:g} "
                            f"({_ms(medians[0])} to {_ms(medians[-1])})."
                        )
            if any(len(s.x) > 1 for s in series):  # a single length is no curve (it stays in the tables)
                panels.append((f"batch {batch}", series))
        png = view.plot("grid_figure", panels, f"Latency vs T on {where} ({_threads_text(threads)})", "sequence length T", "median latency (ms)")
        if png is None:
            section.notes.append(f"No latency curve on {where}: every model was measured at a single length.")
        else:
            section.figures.append(Figure(_slug("latency", where), f"Latency vs sequence length on {where}.", png))
    if table_rows:
        section.tables.append(Table(("target", "batch", "model", "exponent k", "95% CI", "R^2", "points", "T range"), tuple(table_rows)))
    if not rows:
        section.notes.append("No offline FP32 latency measurements over sequence length: figure omitted.")
    return section


def _series(label: str, x: Sequence[float], y: Sequence[float], low: Sequence[float] | None = None, high: Sequence[float] | None = None,
            dashed: bool = False, fit: tuple[float, float] | None = None, color: str | None = None) -> Any:
    return _plots().Series(label, tuple(x), tuple(y), None if low is None else tuple(low), None if high is None else tuple(high), dashed, fit,
                           color)


def _plots() -> Any:
    from ortkit.report import _plots

    return _plots


def _crossover_section(view: _View) -> Section:
    section = Section(
        "Crossover: where the CNN overtakes the RNN",
        "For every pair of a convolutional and a recurrent model (same task where known), the sequence "
        "length at which the CNN's median latency drops below the RNN's, interpolated on log-log axes "
        "between the two measured lengths that bracket the change.",
    )
    rows = view.rows(lambda r: view.offline(r) and r.spec.precision == "fp32" and r.spec.runner == "ort")
    table_rows = []
    for (where, batch), group in _sorted_items(_group(rows, lambda r: (view.where(r), r.spec.batch))):
        threads = _canonical_threads(group)
        group = [r for r in group if r.spec.threads == threads]
        by_model = _group(group, lambda r: r.base)
        cnns = [name for name, rs in by_model.items() if view.family(rs[0]) == "cnn"]
        rnns = [name for name, rs in by_model.items() if view.family(rs[0]) == "rnn"]
        for cnn in sorted(cnns):
            for rnn in sorted(rnns):
                task_c, task_r = by_model[cnn][0].task, by_model[rnn][0].task
                if task_c and task_r and task_c != task_r:
                    continue
                c_by_t = {r.spec.time: r.median_ms for r in by_model[cnn]}
                r_by_t = {r.spec.time: r.median_ms for r in by_model[rnn]}
                common = sorted(t for t in c_by_t if t in r_by_t)
                result = analysis.find_crossover(common, [c_by_t[t] for t in common], [r_by_t[t] for t in common])
                sentence = result.describe(cnn, rnn)
                section.findings.append(f"On {where}, batch {batch}: {sentence}." + _caveat([*by_model[cnn], *by_model[rnn]]))
                crossing = f"T ~ {result.time:.0f}" if result.time is not None else {
                    "none": "none in range", "cnn-faster": "CNN faster throughout", "insufficient": "too few points"}[result.kind]
                table_rows.append((where, str(batch), cnn, rnn, crossing, f"{common[0]}-{common[-1]}" if common else "-"))
    if table_rows:
        section.tables.append(Table(("target", "batch", "CNN", "RNN", "crossover", "measured T"), tuple(table_rows)))
    else:
        section.notes.append("No pair of a CNN and an RNN measured at common sequence lengths: no crossover to report.")
    return section


def _sorted_items(groups: dict[Any, list[Row]]) -> list[tuple[Any, list[Row]]]:
    return [(key, groups[key]) for key in _sorted_keys(groups)]


def _throughput_section(view: _View) -> Section:
    section = Section(
        "Throughput vs batch size",
        "Samples per second at the median latency against batch size, one panel per sequence length.",
    )
    rows = view.rows(lambda r: view.offline(r) and r.spec.runner == "ort" and r.spec.precision == "fp32")
    for where, group in sorted(_group(rows, view.where).items()):
        threads = _canonical_threads(group)
        group = [r for r in group if r.spec.threads == threads]
        panels = []
        for time, time_rows in sorted(_group(group, lambda r: r.spec.time).items()):
            series = []
            for label, line in sorted(_group(time_rows, Row.label).items()):
                line = sorted(line, key=lambda r: r.spec.batch)
                if len({r.spec.batch for r in line}) < 2:
                    continue
                series.append(_series(label, [float(r.spec.batch) for r in line], [r.throughput for r in line]))
                gain = line[-1].throughput / line[0].throughput
                if time == max(r.spec.time for r in group):
                    section.findings.append(
                        f"On {where} at T = {time}, {label} throughput goes from {line[0].throughput:,.0f} samples/s at batch "
                        f"{line[0].spec.batch} to {line[-1].throughput:,.0f} at batch {line[-1].spec.batch} ({_x(gain)})."
                    )
            panels.append((f"T = {time}", series))
        png = view.plot("grid_figure", panels, f"Throughput vs batch on {where} ({_threads_text(threads)})", "batch size", "samples / s")
        if png is not None:
            section.figures.append(Figure(_slug("throughput", where), f"Throughput vs batch size on {where}.", png))
    if not section.figures:
        section.notes.append("No model was measured at more than one batch size: throughput figure omitted.")
    return section


def _streaming_section(view: _View) -> Section:
    section = Section(
        "Streaming: per-step latency",
        "A streaming export carries its state between calls; each call processes a chunk of time steps. "
        "Per-step latency is the median chunk latency divided by the chunk length.",
    )
    rows = view.rows(lambda r: r.spec.chunk is not None and r.spec.runner == "ort")
    offline = view.rows(lambda r: view.offline(r) and r.spec.runner == "ort")
    for where, group in sorted(_group(rows, view.where).items()):
        panels = []
        for batch, batch_rows in sorted(_group(group, lambda r: r.spec.batch).items()):
            series = []
            for label, line in sorted(_group(batch_rows, Row.label).items()):
                line = sorted(line, key=lambda r: r.spec.chunk or 0)
                series.append(_series(label, [float(r.spec.chunk or 0) for r in line], [r.per_step_ms for r in line]))
                first = line[0]
                reference = [r for r in offline if view.where(r) == where and r.base == first.base and r.spec.precision == first.spec.precision
                             and r.spec.batch == batch and r.spec.threads == first.spec.threads]
                sentence = (f"On {where} at batch {batch}, streaming {label} costs {_ms(first.per_step_ms)} per step "
                            f"in chunks of {first.spec.chunk} ({_ms(first.median_ms)} per call)")
                if reference:
                    longest = max(reference, key=lambda r: r.spec.time or 0)
                    sentence += (f", {_x(first.per_step_ms / longest.per_step_ms)} the per-step cost of one offline call at "
                                 f"T = {longest.spec.time} ({_ms(longest.per_step_ms)})")
                section.findings.append(sentence + ".")
            panels.append((f"batch {batch}", series))
        png = view.plot("grid_figure", panels, f"Streaming per-step latency on {where}", "chunk length (steps)", "latency per step (ms)")
        if png is not None:
            section.figures.append(Figure(_slug("streaming", where), f"Per-step streaming latency on {where}.", png))
    if not rows:
        section.notes.append("No streaming configurations were measured: figure omitted.")
    return section


def _memory_section(view: _View) -> Section:
    section = Section(
        "Peak memory vs sequence length",
        "Peak resident memory of the worker process (model, session, arena and inputs) against T.",
    )
    rows = [r for r in view.rows(lambda r: view.offline(r) and r.spec.runner == "ort") if r.peak_rss_bytes]
    for where, group in sorted(_group(rows, view.where).items()):
        panels = []
        for batch, batch_rows in sorted(_group(group, lambda r: r.spec.batch).items()):
            series = []
            for label, line in sorted(_group(batch_rows, Row.label).items()):
                line = sorted(line, key=lambda r: r.spec.time or 0)
                series.append(_series(label, [float(r.spec.time or 0) for r in line], [(r.peak_rss_bytes or math.nan) / 2**20 for r in line]))
                if batch == max(r.spec.batch for r in group) and len(line) > 1:
                    section.findings.append(
                        f"On {where} at batch {batch}, {label} peaks at {_mib(line[0].peak_rss_bytes)} at T = {line[0].spec.time} "
                        f"and {_mib(line[-1].peak_rss_bytes)} at T = {line[-1].spec.time}."
                    )
            panels.append((f"batch {batch}", series))
        png = view.plot("grid_figure", panels, f"Peak memory vs T on {where}", "sequence length T", "peak RSS (MiB)", logy=False)
        if png is not None:
            section.figures.append(Figure(_slug("memory", where), f"Peak memory vs sequence length on {where}.", png))
    if not section.figures:
        section.notes.append("No peak-memory measurements: figure omitted.")
    return section


def _pareto_section(view: _View) -> Section:
    section = Section(
        "Accuracy vs latency",
        "Each exported file's test-set score (computed with onnxruntime on that file) against its median "
        "latency at one common shape. Red points form the Pareto front: no other model is both faster and "
        "more accurate.",
    )
    rows = [r for r in view.rows(lambda r: view.offline(r) and r.spec.runner == "ort") if view.dataset.accuracy_of(r) is not None]
    for task, task_rows in sorted(_group(rows, lambda r: view.dataset.accuracy_of(r).task).items()):  # type: ignore[union-attr]
        shapes = _group(task_rows, lambda r: (view.where(r), r.spec.batch, r.spec.time, r.spec.threads))
        key = max(shapes, key=lambda k: (len({r.spec.model_sha256 for r in shapes[k]}), -k[1], k[2]))
        chosen = shapes[key]
        accuracies = [view.dataset.accuracy_of(r) for r in chosen]
        metric, higher = accuracies[0].metric, accuracies[0].higher_is_better  # type: ignore[union-attr]
        points = [(r.label(), r.median_ms, a.value) for r, a in zip(chosen, accuracies)]  # type: ignore[union-attr]
        front = analysis.pareto_front([p[1] for p in points], [p[2] for p in points], higher_is_better=higher)
        where, batch, time, _ = key
        png = view.plot("pareto_figure", points, front, f"{task}: {metric} vs latency ({where}, batch {batch}, T = {time})",
                                     "median latency (ms)", f"{metric} ({'higher' if higher else 'lower'} is better)")
        if png is not None:
            section.figures.append(Figure(_slug("pareto", task), f"Accuracy vs latency on {task}.", png))
        names = ", ".join(f"{points[i][0]} ({_ms(points[i][1])}, {metric} {points[i][2]:.4g})" for i in front)
        dominated = [points[i][0] for i in range(len(points)) if i not in front]
        sentence = f"On {task} ({where}, batch {batch}, T = {time}) the Pareto front is: {names}"
        if dominated:
            sentence += f"; dominated: {', '.join(dominated)}"
        section.findings.append(sentence + ".")
        section.tables.append(Table(("task", "model", "latency", metric, "on front"),
                                    tuple((task, p[0], _ms(p[1]), f"{p[2]:.4g}", "yes" if i in front else "") for i, p in enumerate(points))))
    if not rows:
        section.notes.append("No accuracy was recorded for the measured files (run `ortkit study`, which evaluates each export): figure omitted.")
    return section


def _pair_key(row: Row) -> tuple[Any, ...]:
    s = row.spec
    return (row.environment_key, row.target, row.base, s.batch, s.time, s.threads, s.chunk, s.concurrency)


def _precision_section(view: _View) -> Section:
    section = Section(
        "INT8 and FP16: speed-up and accuracy change",
        "Each quantized or half-precision file against its FP32 original at the same shape and target. "
        "Speed-up = FP32 median / variant median, with a bootstrap 95% interval from the raw samples.",
    )
    rows = view.rows(lambda r: r.spec.runner == "ort")
    fp32 = {_pair_key(r): r for r in rows if r.spec.precision == "fp32"}
    variants = [r for r in rows if r.spec.precision != "fp32" and _pair_key(r) in fp32]
    table_rows = []
    summary: dict[tuple[str, str, str], list[tuple[float, Row, Row]]] = defaultdict(list)
    for row in sorted(variants, key=lambda r: (view.where(r), r.base, r.spec.precision, r.spec.batch, r.spec.time or 0, r.spec.chunk or 0)):
        base = fp32[_pair_key(row)]
        estimate = analysis.ratio_ci(base.samples_ms, row.samples_ms, n_boot=N_BOOT)
        summary[(view.where(row), row.base, row.spec.precision)].append((estimate.ratio, base, row))
        shape = f"b={row.spec.batch} t={row.spec.time}" + (f" chunk={row.spec.chunk}" if row.spec.chunk else "")
        table_rows.append((view.where(row), row.base, row.spec.precision, shape, _ms(base.median_ms), _ms(row.median_ms),
                           f"{_x(estimate.ratio)} [{estimate.low:.2f}, {estimate.high:.2f}]"))
    for (where, base_name, precision), items in sorted(summary.items()):
        ratios = [item[0] for item in items]
        sentence = (f"On {where}, {precision} {base_name} is {_x(float(np.median(ratios)))} the speed of FP32 "
                    f"(median over {len(ratios)} shape{'s' if len(ratios) > 1 else ''}, range {min(ratios):.2f} to {max(ratios):.2f})")
        acc_base, acc_variant = view.dataset.accuracy_of(items[0][1]), view.dataset.accuracy_of(items[0][2])
        if acc_base is not None and acc_variant is not None:
            sentence += (f"; {acc_base.metric} {acc_base.value:.4g} -> {acc_variant.value:.4g} "
                         f"({acc_variant.value - acc_base.value:+.3g})")
        else:
            sentence += "; accuracy change not recorded"
        section.findings.append(sentence + "." + _caveat([r for item in items for r in item[1:]]))
    if table_rows:
        section.tables.append(Table(("target", "model", "precision", "shape", "FP32", "variant", "speed-up [95% CI]"), tuple(table_rows)))
        series = []
        for (where, base_name, precision), items in sorted(summary.items()):
            items = [i for i in items if i[2].spec.chunk is None and i[2].spec.batch == min(j[2].spec.batch for j in items)]
            items.sort(key=lambda i: i[2].spec.time or 0)
            if items:
                series.append(_series(f"{base_name} {precision} ({where}, b={items[0][2].spec.batch})",
                                      [float(i[2].spec.time or 0) for i in items], [i[0] for i in items]))
        png = view.plot("line_figure", series, "Speed-up of INT8/FP16 over FP32 (>1: faster)", "sequence length T", "speed-up (x)", logy=True)
        if png is not None:
            section.figures.append(Figure("precision-speedup", "Speed-up of reduced-precision files over FP32.", png))
    else:
        section.notes.append("No INT8 or FP16 file was measured next to its FP32 original: nothing to compare.")
    return section


def _torch_section(view: _View) -> Section:
    section = Section(
        "onnxruntime vs PyTorch",
        "The same model at the same shape under onnxruntime and under PyTorch, each in its own worker on "
        "this machine. Ratio = PyTorch median / onnxruntime median (> 1: onnxruntime is faster).",
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
        estimate = analysis.ratio_ci(row.samples_ms, match.samples_ms, n_boot=N_BOOT)
        summary[(view.where(match), row.base, row.spec.runner)].append((estimate.ratio, row))
        table_rows.append((view.where(match), row.base, row.spec.runner, f"b={row.spec.batch} t={row.spec.time}", _ms(match.median_ms),
                           _ms(row.median_ms), f"{_x(estimate.ratio)} [{estimate.low:.2f}, {estimate.high:.2f}]"))
    panels: dict[str, list[Any]] = defaultdict(list)
    for (where, base_name, runner), items in sorted(summary.items()):
        ratios = [i[0] for i in items]
        median = float(np.median(ratios))
        verdict = "faster" if median > 1 else "slower"
        section.findings.append(
            f"On {where}, onnxruntime runs {base_name} {_x(median if median > 1 else 1 / median)} {verdict} than {runner} "
            f"(median over {len(ratios)} shape{'s' if len(ratios) > 1 else ''}; ratio range {min(ratios):.2f} to {max(ratios):.2f})."
            + _caveat([r for i in items for r in (i[1], ort[(_pair_key(i[1])[0], i[1].spec.ep, *_pair_key(i[1])[2:])])])
        )
        for batch, batch_items in sorted(_group([i[1] for i in items], lambda r: r.spec.batch).items()):
            lookup = {id(i[1]): i[0] for i in items}
            batch_items.sort(key=lambda r: r.spec.time or 0)
            panels[f"batch {batch}"].append(_series(f"{base_name} vs {runner}", [float(r.spec.time or 0) for r in batch_items],
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


def _ops_section(view: _View) -> Section:
    section = Section(
        "Where the time goes: operator types",
        "Share of operator time per op type, from onnxruntime's profiler, at the largest profiled shape.",
    )
    rows = [r for r in view.rows(lambda r: r.spec.runner == "ort") if r.op_shares]
    for where, group in sorted(_group(rows, view.where).items()):
        bars = []
        for label, model_rows in sorted(_group(group, Row.label).items()):
            row = max(model_rows, key=lambda r: ((r.spec.time or 0), r.spec.batch))
            total = sum(share for _, share in row.op_shares) or 1.0
            shares = sorted(((op, share / total) for op, share in row.op_shares), key=lambda item: -item[1])
            bars.append((f"{label} (b={row.spec.batch}, t={row.spec.time})", shares))
            top = ", ".join(f"{op} {100 * share:.0f}%" for op, share in shares[:3])
            section.findings.append(f"On {where}, {label} at batch {row.spec.batch}, T = {row.spec.time} spends its operator time on {top}.")
        png = view.plot("shares_figure", bars, f"Operator time shares on {where}")
        if png is not None:
            section.figures.append(Figure(_slug("ops", where), f"Operator-type time shares on {where}.", png))
    if not rows:
        section.notes.append("No configuration was measured with the op profiler (`op_profile`): figure omitted.")
    return section


ENV_FIELDS = ("cpu_model", "cpu_cores_logical", "memory_bytes", "os", "python", "onnxruntime_distribution", "onnxruntime",
              "execution_providers", "torch", "gpus", "ortkit", "git_revision")


def _placement_section(view: _View) -> Section:
    section = Section(
        "Where the nodes ran",
        "Graph nodes per execution provider, as the onnxruntime session assigned them. A number is "
        "labelled with an EP only when that EP ran the model; nodes it left to the CPU are shown here.",
    )
    rows = [r for r in view.rows(lambda r: r.spec.runner == "ort") if r.node_assignment]
    table = []
    for (where, label), group in sorted(_group(rows, lambda r: (view.where(r), r.label())).items()):
        counts = dict(group[0].node_assignment)
        total = sum(counts.values()) or 1
        main = next((ep for ep in counts if ep != "CPUExecutionProvider"), "CPUExecutionProvider")
        fallback = counts.get("CPUExecutionProvider", 0) if main != "CPUExecutionProvider" else 0
        table.append((where, label, ", ".join(f"{ep} {n}" for ep, n in sorted(counts.items())), f"{fallback / total:.0%}"))
        if fallback:
            section.findings.append(
                f"On {where}, {label} ran {counts.get(main, 0)} of {total} nodes on {main}; {fallback} fell back to the CPU EP."
            )
    if table:
        section.tables.append(Table(("target", "model", "nodes per EP", "CPU fallback"), tuple(table)))
        if not section.findings:
            section.findings.append("Every measured model ran all of its nodes on the EP it is labelled with.")
    else:
        section.notes.append("No configuration recorded its node assignment.")
    return section


def _environment_section(view: _View) -> Section:
    section = Section("Environment", "The machine and software stack every number above was measured on.")
    used = sorted({row.environment_key for row in view.dataset.rows})
    for key in used:
        env = view.dataset.environments.get(key)
        if env is None:
            section.notes.append(f"Environment {key}: not recorded.")
            continue
        rows = []
        for name in ENV_FIELDS:
            value = env.get(name)
            if name == "memory_bytes" and value:
                value = f"{value / 2**30:.1f} GiB"
            elif isinstance(value, (list, tuple)):
                value = ", ".join(str(v) for v in value) or "-"
            rows.append((name, "-" if value in (None, "") else str(value)))
        section.tables.append(Table(("environment " + key, ""), tuple(rows)))
    if len(used) > 1:
        section.findings.append(f"The database holds results from {len(used)} environments; each figure labels its environment and none are merged.")
    return section


def _problems_section(view: _View) -> Section:
    section = Section(
        "Unstable, skipped and failed configurations",
        "Every configuration whose numbers are not to be trusted as a single figure, or that produced none.",
    )
    unstable = [r for r in view.dataset.rows if r.unstable]
    skipped = [r for r in view.dataset.rows if r.status in ("skipped", "unavailable")]
    failed = [r for r in view.dataset.rows if r.status not in ("ok", "skipped", "unavailable") or (r.status == "ok" and not r.samples_ms)]
    section.findings.append(
        f"{len(view.dataset.rows)} configurations: {len(view.dataset.rows) - len(skipped) - len(failed)} measured "
        f"({len(unstable)} unstable), {len(skipped)} skipped, {len(failed)} failed."
    )
    if unstable:
        section.tables.append(Table(("unstable configuration", "median", "CV", "IQR/median", "runs"), tuple(
            (_describe(view, r), _ms(r.median_ms), f"{r.stats.cv:.1%}", f"{r.stats.iqr_ratio:.1%}", str(r.stats.n)) for r in unstable)))
    if skipped:
        section.tables.append(Table(("skipped configuration", "reason"), tuple((_describe(view, r), _one_line(r.message)) for r in skipped)))
    if failed:
        section.tables.append(Table(("failed configuration", "error"), tuple((_describe(view, r), _one_line(r.message)) for r in failed)))
    if view.dataset.damaged:
        section.findings.append(f"{len(view.dataset.damaged)} stored row(s) could not be read back (the database was edited or "
                                "damaged) and are left out; a sweep over the same grid measures them again.")
        section.tables.append(Table(("unreadable row (key)", "why"), tuple((key, _one_line(why)) for key, why in view.dataset.damaged)))
    return section


def _describe(view: _View, row: Row) -> str:
    text = row.spec.describe()
    if row.spec.precision != "fp32" and row.spec.precision not in text:
        text += f" {row.spec.precision}"
    return text + (f" [env {row.environment_key[:6]}]" if view.multi_env else "")


def _one_line(message: str | None) -> str:
    if not message:
        return "(no message)"
    line = " ".join(message.split())
    return line if len(line) <= 300 else line[:297] + "..."


SECTIONS = (_crossover_section, _latency_section, _throughput_section, _streaming_section, _memory_section, _pareto_section,
            _precision_section, _torch_section, _ops_section, _placement_section, _problems_section, _environment_section)


def build_report(dataset: Dataset, title: str = "ortkit study: RNN vs CNN deployment trade-offs", *, figures: bool = True) -> Report:
    """Compute every section of the report from the dataset.

    Args:
        figures: draw the figures (seconds); False computes findings and tables only, with empty
            placeholders where figures would be.
    """
    view = _View(dataset, figures)
    sections = [make(view) for make in SECTIONS]
    seen: dict[str, int] = {}
    for section in sections:
        for index, figure in enumerate(section.figures):
            count = seen.get(figure.name, 0)
            seen[figure.name] = count + 1
            if count:
                section.figures[index] = Figure(f"{figure.name}-{count + 1}", figure.caption, figure.png)
    summary = []
    for section in sections:
        if section.title.startswith(("Crossover", "Latency", "INT8", "onnxruntime vs", "Unstable")):
            summary.extend(section.findings)
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Report(title, dataset.source, generated, summary, sections)


# -- rendering -----------------------------------------------------------------------------------


def render_markdown(report: Report, figure_dir: str = "figures") -> str:
    """Markdown with figures referenced as ``figure_dir/NAME.png`` (written by `write_report`)."""
    lines = [f"# {report.title}", "", f"Generated {report.generated} from `{report.source}`.", ""]
    if report.summary:
        lines += ["## Findings", ""] + [f"- {s}" for s in report.summary] + [""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        for figure in section.figures:
            lines += [f"![{figure.caption}]({figure_dir}/{figure.name}.png)", ""]
        for note in section.notes:
            lines += [f"*{note}*", ""]
        if section.findings:
            lines += [f"- {s}" for s in section.findings] + [""]
        for table in section.tables:
            lines += [_md_row(table.headers), _md_row(tuple("---" for _ in table.headers))]
            lines += [_md_row(row) for row in table.rows] + [""]
    return "\n".join(lines)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; }
table { border-collapse: collapse; font-size: .82em; margin: .8em 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } .note { color: #8a5a00; font-style: italic; }
ul.findings li { margin: .25em 0; } .meta { color: #666; font-size: .9em; }
"""


def render_html(report: Report) -> str:
    """One self-contained HTML page: inline CSS, figures as base64 PNG data URIs, no scripts."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(report.title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>{esc(report.title)}</h1>",
        f'<p class="meta">Generated {esc(report.generated)} from <code>{esc(report.source)}</code>.</p>',
    ]
    if report.summary:
        out += ["<h2>Findings</h2>", '<ul class="findings">'] + [f"<li>{esc(s)}</li>" for s in report.summary] + ["</ul>"]
    for section in report.sections:
        out.append(f'<h2 id="{_slug(section.title)}">{esc(section.title)}</h2>')
        if section.intro:
            out.append(f"<p>{esc(section.intro)}</p>")
        for figure in section.figures:
            data = base64.b64encode(figure.png).decode("ascii")
            out.append(f'<figure><img class="figure" id="fig-{esc(figure.name)}" alt="{esc(figure.caption)}" '
                       f'src="data:image/png;base64,{data}"><figcaption>{esc(figure.caption)}</figcaption></figure>')
        for note in section.notes:
            out.append(f'<p class="note">{esc(note)}</p>')
        if section.findings:
            out += ['<ul class="findings">'] + [f"<li>{esc(s)}</li>" for s in section.findings] + ["</ul>"]
        for table in section.tables:
            out.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.headers) + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in table.rows]
            out.append("</tbody></table>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def report_database(db: str | Path, out_dir: str | Path, *, environment: str | None = None) -> ReportPaths:
    """`ortkit report`: read the results database ``db`` (read-only) and write its report.

    Args:
        environment: only the results of this environment (a key or a unique key prefix).

    Raises:
        StoreError: the database is missing, foreign, of a newer schema, or holds no results.
        OrtkitError: the report cannot be written.
    """
    from ortkit.report._reportdata import load_dataset
    from ortkit.profiler import StoreError

    dataset = load_dataset(db, environment=environment)
    if not dataset.rows:
        what = f" of environment {environment}" if environment else ""
        damaged = f" ({len(dataset.damaged)} unreadable row(s))" if dataset.damaged else ""
        raise StoreError(f"{db} holds no results{what}{damaged}: measure something first (ortkit profile, ortkit sweep or ortkit study)")
    return write_report(dataset, out_dir)


def write_report(dataset: Dataset, out_dir: str | Path, name: str = "report") -> ReportPaths:
    """Write ``NAME.md`` (+ ``figures/*.png``) and the self-contained ``NAME.html`` into ``out_dir``.

    Raises:
        OrtkitError: when ``out_dir`` cannot be created or written.
    """
    from ortkit.base import OrtkitError

    out = Path(out_dir)
    figure_dir = out / "figures"
    try:
        figure_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OrtkitError(f"cannot write the report into {out}: {error.strerror or error}") from None
    report = build_report(dataset)
    try:
        paths = []
        for figure in report.figures:
            path = figure_dir / f"{figure.name}.png"
            path.write_bytes(figure.png)
            paths.append(path)
        markdown = out / f"{name}.md"
        markdown.write_text(render_markdown(report, "figures"), encoding="utf-8")
        page = out / f"{name}.html"
        page.write_text(render_html(report), encoding="utf-8")
    except OSError as error:
        raise OrtkitError(f"cannot write the report into {out}: {error.strerror or error}") from None
    return ReportPaths(markdown, page, tuple(paths))

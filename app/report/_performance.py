"""Report sections on speed and memory: crossover, latency, throughput, streaming, memory, Pareto."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ortkit.profiler import Ratio, ratio_between
from ortkit.report import _analysis as analysis
from ortkit.report._document import Figure, Section, Table
from ortkit.report._plots import Mark
from ortkit.report._reportdata import Row
from ortkit.report._view import (
    View,
    canonical_threads,
    caveat,
    fmt_mib,
    fmt_ms,
    fmt_ratio,
    group_rows,
    make_series,
    slug,
    sorted_items,
    threads_text,
)


def latency_section(view: View) -> Section:
    section = Section(
        "Latency vs sequence length",
        "Median latency of one offline call (the whole sequence at once) against sequence length T, "
        "log-log, one panel per batch size; dotted lines are the fitted power laws latency ~ T^k. "
        "Dashed lines are the PyTorch baseline on the same machine.",
    )
    rows = view.rows(lambda r: view.offline(r) and r.spec.precision == "fp32")
    table_rows = []
    for where, group in sorted(group_rows(rows, view.where).items()):
        threads = canonical_threads(group)
        group = [r for r in group if r.spec.threads == threads]
        panels = []
        marks: dict[str, list[Mark]] = {}
        crossings: list[str] = []
        for batch, batch_rows in sorted(group_rows(group, lambda r: r.spec.batch).items()):
            marks[f"batch {batch}"], said = _crossover_marks(view, batch, batch_rows)
            crossings += said
            series = []
            for (label, runner, base), line in sorted(group_rows(batch_rows, lambda r: (r.label(), r.spec.runner, r.base)).items()):
                line = sorted(line, key=lambda r: r.spec.time or 0)
                times = [float(r.spec.time) for r in line]
                medians = [r.median_ms for r in line]
                fit = analysis.fit_scaling(times, medians)
                ci = [r.stats for r in line]
                name = label if fit is None else f"{label} (T^{fit.exponent:.2f})"
                series.append(
                    make_series(name, times, medians, [s.ci_low for s in ci], [s.ci_high for s in ci], dashed=runner != "ort",
                            fit=None if fit is None else (fit.coefficient, fit.exponent), color=base)
                )
                if fit is not None:
                    interval = "n/a" if math.isnan(fit.ci_low) else f"{fit.ci_low:.2f} to {fit.ci_high:.2f}"
                    table_rows.append((where, str(batch), label, f"{fit.exponent:.2f}", interval, f"{fit.r2:.3f}", str(fit.n),
                                       f"{times[0]:g}-{times[-1]:g}"))
                    if runner == "ort" and batch == min(r.spec.batch for r in group):
                        section.findings.append(
                            f"On {where} at batch {batch} ({threads_text(threads)}), {label} latency grows as "
                            f"{fit.describe().removeprefix('latency ~ ')} over T = {times[0]:g} to {times[-1]:g} "
                            f"({fmt_ms(medians[0])} to {fmt_ms(medians[-1])})."
                        )
            if any(len(s.x) > 1 for s in series):  # a single length is no curve (it stays in the tables)
                panels.append((f"batch {batch}", series))
        png = view.plot("grid_figure", panels, f"Latency vs T on {where} ({threads_text(threads)})", "sequence length T", "median latency (ms)",
                        marks=marks)
        if png is None:
            section.notes.append(f"No latency curve on {where}: every model was measured at a single length.")
        else:
            caption = f"Latency vs sequence length on {where}; shaded bands: 95% CI of each median."
            if crossings:
                caption += " CNN x RNN crossovers (paired latency ratio = 1): " + "; ".join(crossings) + "."
            section.figures.append(Figure(slug("latency", where), caption, png))
    if table_rows:
        section.tables.append(Table(("target", "batch", "model", "exponent k", "95% CI", "R^2", "points", "T range"), tuple(table_rows)))
    if not rows:
        section.notes.append("No offline FP32 latency measurements over sequence length: figure omitted.")
    return section


def _crossover_marks(view: View, batch: int, rows: Sequence[Row]) -> tuple[list[Mark], list[str]]:
    """The crossovers of one batch's panel as marks (X on the CNN's curve, its CI shaded), and a
    caption clause per pair: where it is marked, or that it is not resolved."""
    ort = [r for r in rows if r.spec.runner == "ort"]
    marks, said = [], []
    for pair in pair_crossovers(view, ort):
        result = pair.result
        mark = pair.mark([r for r in ort if r.base == pair.cnn], prefix=f"batch {batch}, ")
        if mark is not None:
            marks.append(mark)
            said.append(f"{pair.cnn} x {pair.rnn} at batch {batch}: T ~ {result.time:.0f} (95% CI {result.low:.0f} to {result.high:.0f}), marked X")
        elif result.kind == "not-resolved":
            said.append(f"{pair.cnn} x {pair.rnn} at batch {batch}: not resolved (the ratio's CI spans 1 between T = "
                        f"{result.low or 0:g} and {result.high or 0:g})")
    return marks, said


@dataclass(frozen=True)
class PairCrossover:
    """One CNN x RNN pair at one target and batch: the paired latency ratio per common length and
    where it crosses 1."""

    cnn: str
    rnn: str
    times: tuple[int, ...]
    ratios: tuple[Ratio, ...]
    result: analysis.RatioCrossover
    rows: tuple[Row, ...]

    def mark(self, cnn_rows: Sequence[Row], prefix: str = "") -> Mark | None:
        """The crossover as a mark on the CNN's latency curve, its CI as the span; None unless it
        is resolved."""
        result = self.result
        if result.kind != "crossover" or result.time is None:
            return None
        y = _on_curve([(float(r.spec.time or 0), r.median_ms) for r in cnn_rows], result.time)
        if y is None:
            return None
        # two lines: the pair's names are as long as a series label, and the legend has that width
        label = f"{self.cnn} x {self.rnn}:\n{prefix}T ~ {result.time:.0f} [{result.low or 0:.0f}, {result.high or 0:.0f}]"
        return Mark(label, result.time, y, result.low or result.time, result.high or result.time, (self.rnn, self.cnn))


def _on_curve(points: Sequence[tuple[float, float]], x: float) -> float | None:
    """The curve's value at ``x``, interpolated on log-log axes between its bracketing points."""
    points = sorted(p for p in points if p[0] > 0 and p[1] > 0)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1 and x1 > x0:
            fraction = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return math.exp(math.log(y0) + fraction * (math.log(y1) - math.log(y0)))
    return None


def pair_crossovers(view: View, group: Sequence[Row]) -> list[PairCrossover]:
    """Every CNN x RNN pair (same task where known) among the offline rows of one target, batch
    and thread count, with its paired ratio curve and crossover."""
    by_model = group_rows(group, lambda r: r.base)
    cnns = [name for name, rs in by_model.items() if view.family(rs[0]) == "cnn"]
    rnns = [name for name, rs in by_model.items() if view.family(rs[0]) == "rnn"]
    out = []
    for cnn in sorted(cnns):
        for rnn in sorted(rnns):
            task_c, task_r = by_model[cnn][0].task, by_model[rnn][0].task
            if task_c and task_r and task_c != task_r:
                continue
            c_by_t = {r.spec.time: r for r in by_model[cnn]}
            r_by_t = {r.spec.time: r for r in by_model[rnn]}
            common = sorted(t for t in c_by_t if t in r_by_t)
            ratios = tuple(ratio_between(c_by_t[t], r_by_t[t]) for t in common)
            out.append(PairCrossover(cnn, rnn, tuple(common), ratios, analysis.ratio_crossover(common, ratios),
                                     (*by_model[cnn], *by_model[rnn])))
    return out


def crossover_section(view: View) -> Section:
    section = Section(
        "Crossover: where the CNN overtakes the RNN",
        "For every pair of a convolutional and a recurrent model (same task where known), the sequence "
        "length at which the CNN/RNN latency ratio crosses 1. At each length the ratio is paired: the median of "
        "per-round ratios of the two models measured side by side in the same interleaved rounds, with a "
        "bootstrap 95% interval; the crossover's interval is where the interval's bounds cross 1.",
    )
    rows = view.rows(lambda r: view.offline(r) and r.spec.precision == "fp32" and r.spec.runner == "ort")
    table_rows = []
    for (where, batch), group in sorted_items(group_rows(rows, lambda r: (view.where(r), r.spec.batch))):
        threads = canonical_threads(group)
        group = [r for r in group if r.spec.threads == threads]
        for pair in pair_crossovers(view, group):
            cnn, rnn, common, ratios, result = pair.cnn, pair.rnn, pair.times, pair.ratios, pair.result
            sentence = result.describe(cnn, rnn)
            section.findings.append(f"On {where}, batch {batch}: {sentence}." + caveat(pair.rows))
            crossing = {"crossover": f"T ~ {result.time or 0:.0f} [{result.low or 0:.0f}, {result.high or 0:.0f}]",
                        "not-resolved": f"not resolved (CI spans 1 at T = {result.low or 0:g} to {result.high or 0:g})",
                        "none": "none in range", "cnn-faster": "CNN faster throughout", "insufficient": "too few points"}[result.kind]
            paired = sum(1 for r in ratios if r.paired)
            curve = ", ".join(f"{t}: {r.estimate:.2f} [{r.low:.2f}, {r.high:.2f}]" for t, r in zip(common, ratios))
            table_rows.append((where, str(batch), cnn, rnn, crossing, f"{common[0]}-{common[-1]}" if common else "-",
                               f"{paired}/{len(ratios)}", curve))
    if table_rows:
        section.tables.append(Table(("target", "batch", "CNN", "RNN", "crossover [95% CI]", "measured T", "paired T",
                                     "CNN/RNN ratio by T [95% CI]"), tuple(table_rows)))
    else:
        section.notes.append("No pair of a CNN and an RNN measured at common sequence lengths: no crossover to report.")
    return section


def throughput_section(view: View) -> Section:
    section = Section(
        "Throughput vs batch size",
        "Samples per second at the median latency against batch size, one panel per sequence length.",
    )
    rows = view.rows(lambda r: view.offline(r) and r.spec.runner == "ort" and r.spec.precision == "fp32")
    for where, group in sorted(group_rows(rows, view.where).items()):
        threads = canonical_threads(group)
        group = [r for r in group if r.spec.threads == threads]
        panels = []
        for time, time_rows in sorted(group_rows(group, lambda r: r.spec.time).items()):
            series = []
            for label, line in sorted(group_rows(time_rows, Row.label).items()):
                line = sorted(line, key=lambda r: r.spec.batch)
                if len({r.spec.batch for r in line}) < 2:
                    continue
                series.append(make_series(label, [float(r.spec.batch) for r in line], [r.throughput for r in line]))
                gain = line[-1].throughput / line[0].throughput
                if time == max(r.spec.time for r in group):
                    section.findings.append(
                        f"On {where} at T = {time}, {label} throughput goes from {line[0].throughput:,.0f} samples/s at batch "
                        f"{line[0].spec.batch} to {line[-1].throughput:,.0f} at batch {line[-1].spec.batch} ({fmt_ratio(gain)})."
                    )
            panels.append((f"T = {time}", series))
        png = view.plot("grid_figure", panels, f"Throughput vs batch on {where} ({threads_text(threads)})", "batch size", "samples / s")
        if png is not None:
            section.figures.append(Figure(slug("throughput", where), f"Throughput vs batch size on {where}.", png))
    if not section.figures:
        section.notes.append("No model was measured at more than one batch size: throughput figure omitted.")
    return section


def streaming_section(view: View) -> Section:
    section = Section(
        "Streaming: per-step latency",
        "A streaming export carries its state between calls; each call processes a chunk of time steps. "
        "Per-step latency is the median chunk latency divided by the chunk length.",
    )
    rows = view.rows(lambda r: r.spec.chunk is not None and r.spec.runner == "ort")
    offline = view.rows(lambda r: view.offline(r) and r.spec.runner == "ort")
    for where, group in sorted(group_rows(rows, view.where).items()):
        panels = []
        for batch, batch_rows in sorted(group_rows(group, lambda r: r.spec.batch).items()):
            series = []
            for label, line in sorted(group_rows(batch_rows, Row.label).items()):
                line = sorted(line, key=lambda r: r.spec.chunk or 0)
                chunks = [float(r.spec.chunk or 1) for r in line]
                series.append(make_series(label, chunks, [r.per_step_ms for r in line], [r.stats.ci_low / c for r, c in zip(line, chunks)],
                                          [r.stats.ci_high / c for r, c in zip(line, chunks)], color=line[0].base))
                first = line[0]
                reference = [r for r in offline if view.where(r) == where and r.base == first.base and r.spec.precision == first.spec.precision
                             and r.spec.batch == batch and r.spec.threads == first.spec.threads]
                sentence = (f"On {where} at batch {batch}, streaming {label} costs {fmt_ms(first.per_step_ms)} per step "
                            f"in chunks of {first.spec.chunk} ({fmt_ms(first.median_ms)} per call)")
                if reference:
                    longest = max(reference, key=lambda r: r.spec.time or 0)
                    sentence += (f", {fmt_ratio(first.per_step_ms / longest.per_step_ms)} the per-step cost of one offline call at "
                                 f"T = {longest.spec.time} ({fmt_ms(longest.per_step_ms)})")
                section.findings.append(sentence + ".")
            panels.append((f"batch {batch}", series))
        png = view.plot("grid_figure", panels, f"Streaming per-step latency on {where}", "chunk length (steps)", "latency per step (ms)")
        if png is not None:
            section.figures.append(Figure(slug("streaming", where), f"Per-step streaming latency on {where}; shaded bands: 95% CI of each median.", png))
    if not rows:
        section.notes.append("No streaming configurations were measured: figure omitted.")
    return section


def memory_section(view: View) -> Section:
    section = Section(
        "Memory vs sequence length",
        "The model's own memory: the worker's peak RSS above the same worker's bare-process baseline (Python, numpy and "
        "onnxruntime loaded, no model yet), so it counts the session, weights, arena, inputs and outputs, not the runtime. "
        "Results stored without a baseline show the whole process's peak instead, and say so.",
    )
    rows = [r for r in view.rows(lambda r: view.offline(r) and r.spec.runner == "ort") if r.peak_rss_bytes]
    table = []
    for where, group in sorted(group_rows(rows, view.where).items()):
        # one measure per figure: the model's own when every row has its baseline, else the process's peak
        own = all(r.model_memory_bytes is not None for r in group)
        what = "model memory (peak above bare process)" if own else "whole-process peak RSS"

        def value(row: Row) -> float | None:
            return row.model_memory_bytes if own else row.peak_rss_bytes

        panels = []
        for batch, batch_rows in sorted(group_rows(group, lambda r: r.spec.batch).items()):
            series = []
            for label, line in sorted(group_rows(batch_rows, Row.label).items()):
                line = sorted(line, key=lambda r: r.spec.time or 0)
                series.append(make_series(label, [float(r.spec.time or 0) for r in line], [(value(r) or math.nan) / 2**20 for r in line],
                                          color=line[0].base))
                if batch == max(r.spec.batch for r in group) and len(line) > 1:
                    section.findings.append(
                        f"On {where} at batch {batch}, {label} takes {fmt_mib(value(line[0]))} ({what}) at T = {line[0].spec.time} "
                        f"and {fmt_mib(value(line[-1]))} at T = {line[-1].spec.time}."
                    )
                for r in [line[0], *line[1:][-1:]]:  # the shortest and the longest length
                    table.append((where, str(batch), label, str(r.spec.time), fmt_mib(r.model_memory_bytes) if r.model_memory_bytes is not None else "-",
                                  fmt_mib(r.peak_rss_bytes), fmt_mib(r.baseline_rss_bytes) if r.baseline_rss_bytes is not None else "-"))
            panels.append((f"batch {batch}", series))
        unit = "model memory above bare process (MiB)" if own else "whole-process peak RSS (MiB)"
        png = view.plot("grid_figure", panels, f"{what[0].upper()}{what[1:]} vs T on {where}", "sequence length T", unit, logy=False)
        if png is not None:
            caption = (f"The model's own memory (peak RSS above the bare-process baseline) vs sequence length on {where}." if own else
                       f"Whole-process peak RSS vs sequence length on {where} (these results carry no bare-process baseline: "
                       "Python and onnxruntime are included).")
            section.figures.append(Figure(slug("memory", where), caption, png))
    if table:
        section.tables.append(Table(("target", "batch", "model", "T", "model memory", "whole-process peak", "bare-process baseline"),
                                    tuple(table)))
    if not section.figures:
        section.notes.append("No peak-memory measurements: figure omitted.")
    return section


def _own_length(view: View, rows: Sequence[Row]) -> int | None:
    """The task's own sequence length, as recorded with its accuracies (None when not recorded)."""
    from ortkit.report._reportdata import most_common

    return most_common(a.length for a in (view.dataset.accuracy_of(r) for r in rows) if a is not None and a.length)


def _pareto_shape(view: View, rows: Sequence[Row], own: int | None) -> tuple[tuple[object, ...], str]:
    """The shape (target, batch, T, threads) whose front is drawn, and why that T: the task's own
    length (or the nearest measured one) at the smallest batch; without a recorded length, the
    shape with the most files."""
    shapes = group_rows(rows, lambda r: (view.where(r), r.spec.batch, r.spec.time, r.spec.threads))
    if own is None:
        key = max(shapes, key=lambda k: (len({r.spec.model_sha256 for r in shapes[k]}), -k[1], k[2]))
        return key, "the shape with the most files (the task's own length is not recorded with its scores)"
    times = {k[2] for k in shapes}
    nearest = min(times, key=lambda t: (abs(math.log(t / own)), t))
    at = [k for k in shapes if k[2] == nearest]
    key = max(at, key=lambda k: (-k[1], len({r.spec.model_sha256 for r in shapes[k]})))
    why = f"the task's own length T = {own}" if nearest == own else f"T = {nearest}, the measured length nearest the task's own T = {own}"
    return key, why


def pareto_section(view: View) -> Section:
    section = Section(
        "Accuracy vs latency",
        "Each exported file's test-set score (computed with onnxruntime on that file) against its median "
        "latency at the task's own sequence length (the length it was trained and scored at), smallest batch. Outlined "
        "points form the Pareto front: no other model is both faster and more accurate. The verdict draws the fronts at "
        "each scenario's length.",
    )
    rows = [r for r in view.rows(lambda r: view.offline(r) and r.spec.runner == "ort") if view.dataset.accuracy_of(r) is not None]
    for task, task_rows in sorted(group_rows(rows, lambda r: view.dataset.accuracy_of(r).task).items()):  # type: ignore[union-attr]
        key, why = _pareto_shape(view, task_rows, _own_length(view, task_rows))
        chosen = [r for r in task_rows if (view.where(r), r.spec.batch, r.spec.time, r.spec.threads) == key]
        accuracies = [view.dataset.accuracy_of(r) for r in chosen]
        metric, higher = accuracies[0].metric, accuracies[0].higher_is_better  # type: ignore[union-attr]
        points = [(r.label(), r.median_ms, a.value) for r, a in zip(chosen, accuracies)]  # type: ignore[union-attr]
        front = analysis.pareto_front([p[1] for p in points], [p[2] for p in points], higher_is_better=higher)
        where, batch, time, _ = key
        png = view.plot("pareto_figure", points, front, f"{task}: {metric} vs latency ({where}, batch {batch}, T = {time})",
                        "median latency (ms)", f"{metric} ({'higher' if higher else 'lower'} is better)")
        if png is not None:
            section.figures.append(Figure(slug("pareto", task), f"Accuracy vs latency on {task} at {why}, batch {batch}, on {where}.", png))
        names = ", ".join(f"{points[i][0]} ({fmt_ms(points[i][1])}, {metric} {points[i][2]:.4g})" for i in front)
        dominated = [points[i][0] for i in range(len(points)) if i not in front]
        sentence = f"On {task} ({where}, batch {batch}, T = {time}: {why}) the Pareto front is: {names}"
        if dominated:
            sentence += f"; dominated: {', '.join(dominated)}"
        section.findings.append(sentence + ".")
        section.tables.append(Table(("task", "T", "model", "latency", metric, "on front"),
                                    tuple((task, str(time), p[0], fmt_ms(p[1]), f"{p[2]:.4g}", "yes" if i in front else "")
                                          for i, p in enumerate(points))))
    if not rows:
        section.notes.append("No accuracy was recorded for the measured files (run `ortkit study`, which evaluates each export): figure omitted.")
    return section

"""Terminal rendering for `ortkit profile`: a rich progress bar with ETA and the summary table."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ortkit.profiler import TUNED_TAG, SweepEvent, SweepSummary

__all__ = ["progress_bar", "print_summary", "summary_json"]


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[SweepEvent], None]]:
    """A progress callback drawing on stderr (so ``--json`` output on stdout stays clean)."""
    if not enabled:
        yield lambda event: None
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task: list[Any] = []

        def callback(event: SweepEvent) -> None:
            if not task:
                task.append(bar.add_task("profiling", total=event.total))
            if event.state == "start":
                bar.update(task[0], description=f"[cyan]{escape(event.spec.describe())}")
                return
            bar.advance(task[0])
            result = event.result
            if result is not None and result.status == "failed" and event.state == "done":
                bar.console.print(f"[yellow]{result.status}[/yellow] {escape(event.spec.describe())}: {escape(result.message or '')}")

        yield callback


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.1f}"


def print_summary(summary: SweepSummary, file: Any = None) -> None:
    """The results table (one row per configuration; unstable figures marked, failures explained)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=file or sys.stdout)
    if not console.is_terminal:
        console.width = 200  # a log file or pipe: never truncate figures to 80 columns
    table = Table(title=escape(f"ortkit profile: {summary.db}"), show_lines=False)
    for name in ("model", "runner/EP", "batch", "time", "thr", "conc", "status", "p50 ms", "95% CI ms", "p99 ms", "CV", "samples/s", "steps/s", "GFLOP/s", "peak RSS"):
        table.add_column(name, justify="right" if name not in ("model", "runner/EP", "status") else "left")
    for result in summary.results:
        spec, stats, m = result.spec, result.stats, result.metrics
        where = spec.ep if spec.runner == "ort" else f"{spec.runner}/{spec.ep}"
        if TUNED_TAG in spec.tags:
            where += f" tuned {spec.precision}" if spec.precision != "fp32" else " tuned"
        if stats is None:
            status = f"[red]{result.status}[/red]" if result.status == "failed" else f"[yellow]{result.status}[/yellow]"
            table.add_row(escape(spec.model_label), escape(where), str(spec.batch), str(spec.time or "-"), str(spec.threads or "def"),
                          str(spec.concurrency), status, *["-"] * 8)
            continue
        status = "[yellow]unstable[/yellow]" if result.unstable else "ok"
        table.add_row(
            escape(spec.model_label), escape(where), str(spec.batch), str(spec.time or "-"), str(spec.threads or "def"), str(spec.concurrency),
            status, _ms(stats.p50), f"{_ms(stats.ci_low)}-{_ms(stats.ci_high)}", _ms(stats.p99), f"{stats.cv:.1%}",
            # Derived once, from the pooled samples (all clients together under concurrency): the
            # same figures as the JSON, the store and the report.
            _rate(m.throughput_samples_s), _rate(m.throughput_timesteps_s),
            f"{m.gflops_s:.2f}" if m.gflops_s else "-",
            f"{m.peak_rss_bytes / 2**20:.0f} MiB" if m.peak_rss_bytes else "-",
        )
    console.print(table)
    counts = ", ".join(f"{summary.count(s)} {s}" for s in ("ok", "failed", "skipped", "unavailable") if summary.count(s))
    console.print(f"{len(summary.results)} configurations: {counts or 'none'}; measured {summary.measured}, resumed {summary.resumed} (environment {summary.environment.key})")
    # One line per distinct reason, not per configuration: 40 skipped openvino rows share one cause.
    reasons: dict[tuple[str, str], list[str]] = {}
    for result in summary.results:
        if result.status != "ok":
            reasons.setdefault((result.status, result.message or "no message"), []).append(result.spec.describe())
    for (status, message), labels in reasons.items():
        more = f" (+{len(labels) - 1} more)" if len(labels) > 1 else ""
        console.print(escape(f"  {status}: {labels[0]}{more}: {message}"), soft_wrap=True)
    for note in summary.notes:
        console.print(escape(f"  note: {note}"))
    if summary.other_environments:
        console.print(escape(f"  note: {summary.db} also holds results of {len(summary.other_environments)} other environment(s); they are kept apart"))


def summary_json(summary: SweepSummary) -> str:
    return json.dumps(summary.to_dict(), indent=2)

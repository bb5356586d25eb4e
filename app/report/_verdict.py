"""The verdict: one row per deployment scenario and target, saying which model to ship.

For each scenario the measured rows that fit its workload are filtered by its budgets, the models
within the accuracy slack of the best qualify, and the best on the scenario's objective wins. Its
margin over the best model of another family is the median of their per-round cost ratios when both
were measured in the same interleaved rounds (drift that hit both rounds alike cancels), else a
ratio of medians with a two-sample bootstrap interval; when the interval spans 1 the table says
"cannot separate them" rather than crown a winner on noise. Memory is the model's own: the
worker's peak RSS above its bare-process baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ortkit.profiler import Groups, paired_ratio
from ortkit.report._analysis import compare_samples, pareto_front
from ortkit.report._document import Figure, Section, Table
from ortkit.report._reportdata import Accuracy, Row
from ortkit.report._scenarios import SCENARIO_KINDS, Scenario
from ortkit.report._view import View, fmt_mib, group_rows, make_series, slug

__all__ = ["Margin", "Verdict", "margin", "paired_margin", "decide", "verdict_section", "memory_of"]

TWO_SAMPLE = "two-sample bootstrap"


@dataclass(frozen=True)
class Margin:
    """cost(other) / cost(winner): > 1 means the winner is better; ``low``/``high`` the 95% interval."""

    ratio: float
    low: float
    high: float
    #: how the interval was found: "paired over N rounds" or `TWO_SAMPLE`
    method: str = TWO_SAMPLE

    @property
    def separated(self) -> bool:
        return self.low > 1.0 or self.high < 1.0

    def describe(self) -> str:
        text = f"{self.ratio:.2f}x (95% CI {self.low:.2f} to {self.high:.2f}, {self.method})"
        return text if self.separated else f"{text}: cannot separate them"


def margin(winner: Sequence[float], other: Sequence[float]) -> Margin:
    """The winner's margin from per-call cost samples of both sides (cost: lower is better): the
    ratio of medians with the independent two-sample bootstrap of `compare_samples`. For sides
    measured at different times (no shared rounds)."""
    result = compare_samples(list(winner), list(other))
    return Margin(result.ratio, result.low, result.high, TWO_SAMPLE)


def paired_margin(winner: object, other: object, scale: float = 1.0) -> Margin | None:
    """The winner's margin from the per-round medians of two configurations measured in the same
    interleaved rounds (`ortkit.profiler.paired_ratio` of other over winner, times ``scale``, the
    ratio of their fixed cost-per-call factors); None when they share fewer than 3 rounds."""
    ratio = paired_ratio(Groups.of(other), Groups.of(winner))
    if ratio is None:
        return None
    return Margin(ratio.estimate * scale, ratio.low * scale, ratio.high * scale, f"paired over {ratio.rounds} rounds")


def memory_of(row: Row) -> tuple[float | None, bool]:
    """(bytes, is the model's own): the peak above the bare-process baseline when recorded, else
    the whole process's peak RSS (older results), which overstates the model by the runtime."""
    own = row.model_memory_bytes
    return (own, True) if own is not None else (row.peak_rss_bytes, False)


@dataclass(frozen=True)
class Candidate:
    row: Row
    accuracy: Accuracy | None
    costs: tuple[float, ...]  # per-call samples scaled to the objective's cost per sequence (lower is better)

    @property
    def cost(self) -> float:
        return float(np.median(self.costs))


@dataclass(frozen=True)
class Verdict:
    scenario: Scenario
    target: str
    winner: Candidate | None
    runner_up: Candidate | None
    other: Candidate | None  # the best model of another family
    margin: Margin | None
    why: str


def _accuracy(view: View, row: Row) -> Accuracy | None:
    found = view.dataset.accuracy_of(row)
    if found is not None:
        return found
    # a streaming export carries the weights of its fp32 model: that model's score is its score
    for accuracy in view.dataset.accuracy.values():
        if accuracy.model_label == row.base and accuracy.precision == row.spec.precision:
            return accuracy
    return None


def _fits(scenario: Scenario, row: Row) -> bool:
    spec = row.spec
    if row.task != scenario.task or spec.runner != "ort":
        return False
    if scenario.kind == "streaming":
        return spec.chunk == scenario.chunk and spec.batch == 1
    if spec.chunk is not None or spec.time != scenario.length:
        return False
    if scenario.kind == "offline":
        return spec.concurrency == 1
    if scenario.kind == "server":
        return (spec.batch, spec.concurrency) in ((scenario.clients, 1), (1, scenario.clients))
    return spec.batch == 1 and spec.concurrency == 1


def _cores(view: View, row: Row) -> int:
    if row.spec.threads:
        return int(row.spec.threads)
    env = view.dataset.environments.get(row.environment_key, {})
    return int(env.get("cpu_cores_logical") or 1)


def _cost_factor(view: View, scenario: Scenario, row: Row) -> float:
    """What one call's latency is multiplied by to give the scenario's cost."""
    if scenario.kind == "streaming":
        return 1.0 / (scenario.chunk or 1)  # ms per step
    if scenario.kind == "offline":
        return _cores(view, row) / row.spec.batch  # core-ms per sequence
    if scenario.kind == "server":
        return 1.0 / (row.spec.batch * row.spec.concurrency)  # ms per sequence
    return 1.0


def _costs(view: View, scenario: Scenario, row: Row) -> tuple[float, ...]:
    factor = _cost_factor(view, scenario, row)
    return tuple(float(v) * factor for v in np.asarray(row.samples_ms, dtype=float))


def _within_budget(scenario: Scenario, row: Row) -> bool:
    budget = scenario.latency_budget_ms
    if budget is not None and row.stats.p99 > budget:
        return False
    memory, _ = memory_of(row)
    if scenario.memory_mib is not None and (memory is None or memory / 2**20 > scenario.memory_mib):
        return False
    return True


def _qualified(scenario: Scenario, candidates: list[Candidate]) -> list[Candidate]:
    """Those within the accuracy slack of the best score (all, when no score is known)."""
    scored = [c for c in candidates if c.accuracy is not None]
    if not scored:
        return candidates
    higher = scored[0].accuracy.higher_is_better  # type: ignore[union-attr]
    values = [c.accuracy.value for c in scored]  # type: ignore[union-attr]
    best = max(values) if higher else min(values)
    slack = scenario.accuracy_slack * abs(best)
    return [c for c in scored if (c.accuracy.value >= best - slack if higher else c.accuracy.value <= best + slack)]  # type: ignore[union-attr]


def _best_per_model(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per model and precision (its best measured configuration), best first."""
    best: dict[str, Candidate] = {}
    for candidate in candidates:
        label = candidate.row.label()
        if label not in best or candidate.cost < best[label].cost:
            best[label] = candidate
    return sorted(best.values(), key=lambda c: c.cost)


def decide(view: View, scenario: Scenario, target: str, rows: list[Row]) -> Verdict:
    """The verdict of ``scenario`` on ``target`` from the rows that fit its workload there."""
    fitting = [Candidate(r, _accuracy(view, r), _costs(view, scenario, r)) for r in rows]
    eligible = [c for c in fitting if _within_budget(scenario, c.row)]
    if not fitting:
        return Verdict(scenario, target, None, None, None, None, "nothing was measured at this scenario's shape")
    if not eligible:
        fastest = min(fitting, key=lambda c: c.row.stats.p99)
        why = f"no model meets the budget; the closest, {fastest.row.label()}, has p99 {fastest.row.stats.p99:.3g} ms"
        memory, own = memory_of(fastest.row)
        if scenario.memory_mib is not None and memory is not None:
            why += f" and takes {fmt_mib(memory)} ({'its own' if own else 'whole-process peak'})"
        return Verdict(scenario, target, None, None, None, None, why)
    ranked = _best_per_model(_qualified(scenario, eligible))
    winner = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    family = view.family(winner.row)
    others = [c for c in ranked if view.family(c.row) != family]
    other_pool = others or [c for c in _best_per_model(eligible) if view.family(c.row) != family]
    other = other_pool[0] if other_pool else None
    found = None
    if other is not None:
        scale = _cost_factor(view, scenario, other.row) / _cost_factor(view, scenario, winner.row)
        found = paired_margin(winner.row, other.row, scale) or margin(winner.costs, other.costs)
    why = _why(scenario, winner, other, found, len(ranked), len(_best_per_model(eligible)), bool(others))
    return Verdict(scenario, target, winner, runner_up, other, found, why)


def _objective_text(scenario: Scenario) -> str:
    return {"streaming": "per-step latency", "offline": "cost per sequence", "server": "cost per sequence", "edge": "latency"}[scenario.kind]


def _why(scenario: Scenario, winner: Candidate, other: Candidate | None, found: Margin | None, qualified: int, eligible: int,
         other_qualified: bool) -> str:
    budget = "" if scenario.kind == "offline" else " that meet the budget"
    text = f"best {_objective_text(scenario)} of the {qualified} model(s) within {scenario.accuracy_slack:.0%} of the best score, of {eligible}{budget}"
    if other is None:
        return text + "; no model of another family meets it"
    if not other_qualified:
        text += f"; the best of another family, {other.row.label()}, falls outside the accuracy slack"
    if found is not None and not found.separated:
        text += f"; {other.row.label()} is within the noise"
    return text


def _fmt_accuracy(candidate: Candidate | None) -> str:
    if candidate is None or candidate.accuracy is None:
        return "-"
    return f"{candidate.accuracy.metric} {candidate.accuracy.value:.4g}"


def _fmt_objective(scenario: Scenario, candidate: Candidate) -> str:
    row = candidate.row
    if scenario.kind == "streaming":
        return f"{candidate.cost:.3g} ms/step (p99 chunk {row.stats.p99:.3g} ms)"
    if scenario.kind in ("offline", "server"):
        per_s = 1000.0 / candidate.cost if candidate.cost > 0 else math.nan
        unit = "seq/s per core" if scenario.kind == "offline" else "seq/s"
        return f"{per_s:.4g} {unit} at batch {row.spec.batch} (p99 {row.stats.p99:.3g} ms)"
    return f"median {candidate.cost:.3g} ms (p99 {row.stats.p99:.3g} ms)"


HEADERS = ("scenario", "target", "deploy", "objective", "margin over the other family", "accuracy", "model memory", "process peak", "runner-up",
           "why")


def _fmt_memory(row: Row) -> str:
    memory, own = memory_of(row)
    if memory is None:
        return "-"
    return fmt_mib(memory) if own else f"n/a (no baseline; process peak {fmt_mib(memory)})"


def verdict_table_row(verdict: Verdict) -> tuple[str, ...]:
    scenario = verdict.scenario
    label = f"{scenario.name} ({scenario.kind}: {scenario.describe()})"
    winner = verdict.winner
    if winner is None:
        return (label, verdict.target, "none", "-", "-", "-", "-", "-", "-", verdict.why)
    if verdict.other is None or verdict.margin is None:
        margin_text = "-"
    else:
        margin_text = f"{verdict.margin.describe()} vs {verdict.other.row.label()}"
    runner = verdict.runner_up.row.label() if verdict.runner_up is not None else "-"
    peak = fmt_mib(winner.row.peak_rss_bytes) if winner.row.peak_rss_bytes else "-"
    return (label, verdict.target, winner.row.label(), _fmt_objective(scenario, winner), margin_text, _fmt_accuracy(winner),
            _fmt_memory(winner.row), peak, runner, verdict.why)


def _targets(view: View, scenario: Scenario) -> dict[str, list[Row]]:
    task_rows = view.rows(lambda r: r.task == scenario.task and r.spec.runner == "ort")
    # tuned configurations compete too: a model's best configuration is what a user deploys
    task_rows += view.tuning_rows(lambda r: r.task == scenario.task and r.spec.runner == "ort" and dict(r.spec.tags).get("tuned") is not None)
    return group_rows(task_rows, view.where)


def verdicts(view: View, scenarios: Sequence[Scenario]) -> list[Verdict]:
    """Every scenario on every target that measured something for its task."""
    out = []
    for scenario in scenarios:
        by_target = _targets(view, scenario)
        for target in sorted(by_target):
            out.append(decide(view, scenario, target, [r for r in by_target[target] if _fits(scenario, r)]))
    return out


def _streaming_figure(view: View, scenario: Scenario, target: str, rows: list[Row]) -> bytes | None:
    """Per-step latency against chunk size (batch 1, 95% CI band of the median) with the
    real-time budget: a step must take less than the time between steps."""
    streams = [r for r in rows if r.spec.chunk is not None and r.spec.batch == 1]
    series = []
    for label, line in sorted(group_rows(streams, Row.label).items()):
        line = sorted(line, key=lambda r: r.spec.chunk or 0)
        chunks = [float(r.spec.chunk or 1) for r in line]
        stats = [r.stats for r in line]
        series.append(make_series(label, chunks, [s.p50 / c for s, c in zip(stats, chunks)], [s.ci_low / c for s, c in zip(stats, chunks)],
                                  [s.ci_high / c for s, c in zip(stats, chunks)], color=line[0].base))
    return view.plot("budget_figure", series, float(scenario.step_ms or 0), f"real time: a step every {scenario.step_ms:g} ms",
                     f"{scenario.name}: per-step latency vs chunk on {target}", "chunk (steps per call)", "median latency per step (ms)")


def _front_figure(view: View, scenario: Scenario, target: str, rows: list[Row]) -> bytes | None:
    """Score against the scenario's cost at its own length: its Pareto front."""
    fitting = [Candidate(r, _accuracy(view, r), _costs(view, scenario, r)) for r in rows if _fits(scenario, r)]
    scored = [c for c in _best_per_model(fitting) if c.accuracy is not None]
    if not scored:
        return None
    metric, higher = scored[0].accuracy.metric, scored[0].accuracy.higher_is_better  # type: ignore[union-attr]
    points = [(c.row.label(), c.cost, c.accuracy.value) for c in scored]  # type: ignore[union-attr]
    front = pareto_front([p[1] for p in points], [p[2] for p in points], higher_is_better=higher)
    unit = {"offline": "core-ms per sequence", "server": "ms per sequence", "edge": "median latency (ms)"}[scenario.kind]
    return view.plot("pareto_figure", points, front, f"{scenario.name}: {metric} vs cost at T = {scenario.length} on {target}", unit,
                     f"{metric} ({'higher' if higher else 'lower'} is better)")


def _figures(view: View, scenarios: Sequence[Scenario]) -> list[Figure]:
    figures = []
    for scenario in scenarios:
        for target, rows in sorted(_targets(view, scenario).items()):
            if scenario.kind == "streaming":
                png = _streaming_figure(view, scenario, target, rows)
                caption = f"{scenario.name} on {target}: per-step latency vs chunk size, real-time budget in red."
            else:
                png = _front_figure(view, scenario, target, rows)
                caption = f"{scenario.name} on {target}: score vs cost at T = {scenario.length}; the Pareto front is outlined."
            if png is not None:
                figures.append(Figure(slug("verdict", scenario.name, target), caption, png))
    return figures


def verdict_section(view: View, scenarios: Sequence[Scenario]) -> Section:
    section = Section(
        "Verdict: what to deploy",
        "One row per scenario and target: among the models that meet its budgets and score within its accuracy slack, the best "
        "on its objective. Margin: the other family's best cost over the winner's with its 95% interval, from per-round ratios "
        "when both were measured in the same interleaved rounds (paired), else a two-sample bootstrap; 'cannot separate "
        "them' when it spans 1. Model memory: the worker's peak RSS above its bare-process baseline (Python, numpy, "
        "onnxruntime), which the edge budget is checked against; process peak: the whole worker, runtime included.",
        tables_first=True,
    )
    found = verdicts(view, scenarios)
    if found:
        section.tables.append(Table(HEADERS, tuple(verdict_table_row(v) for v in found)))
    section.figures.extend(_figures(view, scenarios))
    missing = [s for s in scenarios if not any(v.scenario == s for v in found)]
    for scenario in missing:
        section.notes.append(f"Scenario {scenario.name!r}: nothing was measured on task {scenario.task!r}.")
    if not scenarios:
        section.notes.append("No deployment scenario was given: no verdict.")
    for kind, (_, objective) in SCENARIO_KINDS.items():
        if any(s.kind == kind for s in scenarios):
            section.findings.append(f"{kind}: {objective}.")
    return section

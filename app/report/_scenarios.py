"""Deployment scenarios: the questions a study answers ("which model do I ship for this job?").

A `Scenario` names a task, a workload and its budgets; the verdict (`_verdict.py`) picks, from the
measured rows, the model that serves it best. Scenarios are written in a study file's
``[[scenario]]`` tables (see docs/study.md); they live in the report package because the report is
what reads them, and the study package (above it) parses them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ortkit.base import OrtkitError

__all__ = ["Scenario", "ScenarioError", "SCENARIO_KINDS", "scenario_from_dict"]

#: what each kind needs besides ``name`` and ``task``, and what it optimises
SCENARIO_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "streaming": (("chunk", "step_ms"), "lowest per-step latency, p99 of a chunk within the time its steps take to arrive"),
    "offline": (("length",), "most sequences per second per core"),
    "server": (("length", "clients", "p99_ms"), "most sequences per second with p99 within the budget"),
    "edge": (("length", "memory_mib", "p99_ms"), "lowest latency within the memory and latency budgets"),
}


class ScenarioError(OrtkitError):
    """A scenario that cannot be evaluated as written (missing or invalid field)."""


@dataclass(frozen=True)
class Scenario:
    """One deployment question.

    ``streaming``: a new step every ``step_ms``, processed in chunks of ``chunk`` steps; a chunk's
    p99 latency must stay within ``chunk * step_ms`` (and ``p99_ms`` when given).
    ``offline``: whole sequences of ``length`` steps; any batch; the most sequences/s per core.
    ``server``: ``clients`` requests of ``length`` steps at once, served as one batch of
    ``clients`` (or ``clients`` concurrent calls when measured so); p99 within ``p99_ms``.
    ``edge``: batch 1, ``length`` steps; the model's own memory (the worker's peak RSS above its
    bare-process baseline; the whole peak for results without one) within ``memory_mib`` and p99
    within ``p99_ms``.

    Among the models that meet the budgets, those within ``accuracy_slack`` (relative) of the best
    score qualify, and the one best on the scenario's objective is the verdict.
    """

    name: str
    kind: str
    task: str
    length: int | None = None
    chunk: int | None = None
    step_ms: float | None = None
    p99_ms: float | None = None
    clients: int = 1
    memory_mib: float | None = None
    accuracy_slack: float = 0.05
    description: str = ""

    def __post_init__(self) -> None:
        where = f"scenario {self.name!r}"
        if self.kind not in SCENARIO_KINDS:
            raise ScenarioError(f"{where}: kind must be one of {', '.join(SCENARIO_KINDS)}, not {self.kind!r}")
        for name in SCENARIO_KINDS[self.kind][0]:
            if getattr(self, name) is None:
                article = "an" if self.kind[0] in "aeiou" else "a"
                raise ScenarioError(f"{where}: {article} {self.kind} scenario needs '{name}'")
        for name in ("length", "chunk", "clients"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ScenarioError(f"{where}: '{name}' must be a positive integer, not {value!r}")
        for name in ("step_ms", "p99_ms", "memory_mib"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
                raise ScenarioError(f"{where}: '{name}' must be a positive number, not {value!r}")
        if isinstance(self.accuracy_slack, bool) or not isinstance(self.accuracy_slack, (int, float)) or not 0 <= self.accuracy_slack < 1:
            raise ScenarioError(f"{where}: 'accuracy_slack' must be a number in [0, 1), not {self.accuracy_slack!r}")

    @property
    def latency_budget_ms(self) -> float | None:
        """The p99 a measured call must meet (for streaming: one chunk's call)."""
        if self.kind == "streaming":
            arrival = (self.chunk or 1) * (self.step_ms or 0.0)
            return min(arrival, self.p99_ms) if self.p99_ms is not None else arrival
        return self.p99_ms

    def describe(self) -> str:
        """The workload and budgets in a few words, for the verdict table."""
        if self.kind == "streaming":
            text = f"{self.task}: a step every {self.step_ms:g} ms in chunks of {self.chunk}, p99 <= {self.latency_budget_ms:g} ms"
        elif self.kind == "offline":
            text = f"{self.task}: T = {self.length}, max sequences/s per core"
        elif self.kind == "server":
            text = f"{self.task}: {self.clients} clients, T = {self.length}, p99 <= {self.p99_ms:g} ms"
        else:
            text = f"{self.task}: T = {self.length}, model memory <= {self.memory_mib:g} MiB, p99 <= {self.p99_ms:g} ms"
        return text


def scenario_from_dict(data: dict[str, Any], where: str = "scenario") -> Scenario:
    """A `Scenario` from one ``[[scenario]]`` table.

    Raises:
        ScenarioError: an unknown key, a missing or invalid field.
    """
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: must be a table, not {type(data).__name__}")
    known = {f.name for f in fields(Scenario)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    for name in ("name", "kind", "task"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise ScenarioError(f"{where}: '{name}' must be a non-empty string")
    return Scenario(**data)

"""Study files: what `ortkit study` trains and measures, and the deployment questions it answers.

A study file is TOML (schema in docs/study.md): top-level ``name``, ``seed``, ``op_profile``; a
``[grid]`` (batch, time, threads, precision, chunk, baseline_time); a ``[budget]`` (the
profiler's measurement budget); one ``[[task]]`` per task (name, models, train_seconds, options);
and ``[[scenario]]`` tables (see `ortkit.report.Scenario`). The quick and default studies ship as
``quick.toml`` and ``default.toml`` inside this package; every error is one line naming the file
and the key.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from ortkit.base import UsageError
from ortkit.report import ScenarioError, scenario_from_dict
from ortkit.study._study import StudyPlan, TaskPlan, TunePlan

__all__ = ["PlanFileError", "load_plan", "parse_plan", "builtin_plan", "BUILTIN_PLANS"]

BUILTIN_PLANS = ("quick", "default")
_TOP = {"name", "seed", "op_profile", "grid", "budget", "task", "scenario", "claims", "tune"}
_GRID = {"batch", "time", "threads", "precision", "chunk", "baseline_time"}
_TASK = {"name", "models", "train_seconds", "options"}


class PlanFileError(UsageError):
    """A study file that cannot be run as written; the message names the file and the key."""


def _fail(source: str, key: str, why: str) -> PlanFileError:
    return PlanFileError(f"{source}: {key}: {why}")


def _int_list(value: Any, source: str, key: str, allow_empty: bool = False) -> tuple[int, ...]:
    if (not isinstance(value, list) or (not value and not allow_empty)
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise _fail(source, key, f"expected a list of integers >= 1, got {value!r}")
    return tuple(sorted(set(value)))


def _threads(value: Any, source: str) -> tuple[int | None, ...]:
    # "auto": at most two intra-op threads, so studies on bigger machines stay comparable with 2-core ones
    if value == "auto":
        return (min(2, os.cpu_count() or 1),)
    return _int_list(value, source, "grid.threads")


def _task(data: Any, source: str, index: int) -> TaskPlan:
    key = f"task[{index}]"
    if not isinstance(data, dict):
        raise _fail(source, key, "must be a table ([[task]])")
    unknown = sorted(set(data) - _TASK)
    if unknown:
        raise _fail(source, f"{key}.{unknown[0]}", f"unknown key; known keys: {', '.join(sorted(_TASK))}")
    name, models = data.get("name"), data.get("models")
    if not isinstance(name, str) or not name:
        raise _fail(source, f"{key}.name", "expected a task name (ortkit models --tasks lists them)")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise _fail(source, f"{key}.models", f"expected a non-empty list of zoo model names, got {models!r}")
    seconds = data.get("train_seconds", 60.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise _fail(source, f"{key}.train_seconds", f"expected a positive number of seconds, got {seconds!r}")
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise _fail(source, f"{key}.options", "expected a table of task options")
    return TaskPlan(name, tuple(models), tuple(sorted(options.items())), float(seconds))


def _tune(data: Any, source: str) -> TunePlan | None:
    """``[tune]``: enabled (default true when the table is there), budget_s, max_metric_drop."""
    if not isinstance(data, dict):
        raise _fail(source, "tune", "must be a table ([tune])")
    unknown = sorted(set(data) - {"enabled", "budget_s", "max_metric_drop"})
    if unknown:
        raise _fail(source, f"tune.{unknown[0]}", "unknown key; known keys: budget_s, enabled, max_metric_drop")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail(source, "tune.enabled", f"expected true or false, got {enabled!r}")
    values = {}
    for key, low in (("budget_s", 1.0), ("max_metric_drop", 0.0)):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
                raise _fail(source, f"tune.{key}", f"expected a number >= {low:g}, got {value!r}")
            values[key] = float(value)
    return TunePlan(**values) if enabled else None


def parse_plan(text: str, source: str = "<study>") -> StudyPlan:
    """A `StudyPlan` from the text of a study file.

    Raises:
        PlanFileError: not TOML, an unknown key, a missing or invalid value, an invalid scenario.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PlanFileError(f"{source}: not valid TOML: {error}") from None
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise _fail(source, unknown[0], f"unknown key; known keys: {', '.join(sorted(_TOP))}")
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise _fail(source, "grid", "must be a table")
    unknown = sorted(set(grid) - _GRID)
    if unknown:
        raise _fail(source, f"grid.{unknown[0]}", f"unknown key; known keys: {', '.join(sorted(_GRID))}")
    precision = grid.get("precision", ["fp32"])
    if not isinstance(precision, list) or not precision or not all(p in ("fp32", "fp16", "int8") for p in precision):
        raise _fail(source, "grid.precision", f"expected a list of fp32, fp16, int8; got {precision!r}")
    budget = data.get("budget", {})
    if not isinstance(budget, dict):
        raise _fail(source, "budget", "must be a table")
    tasks = data.get("task", [])
    if not isinstance(tasks, list) or not tasks:
        raise _fail(source, "task", "a study needs at least one [[task]]")
    tables = data.get("scenario", [])
    if not isinstance(tables, list):
        raise _fail(source, "scenario", "must be an array of tables ([[scenario]])")
    try:
        scenarios = tuple(scenario_from_dict(t, f"{source}: scenario[{i}]") for i, t in enumerate(tables))
    except ScenarioError as error:
        raise PlanFileError(str(error)) from None
    task_plans = tuple(_task(t, source, i) for i, t in enumerate(tasks))
    names = {t.task for t in task_plans}
    for i, scenario in enumerate(scenarios):
        if scenario.task not in names:
            raise _fail(source, f"scenario[{i}].task", f"{scenario.task!r} is not one of the study's tasks ({', '.join(sorted(names))})")
    claims = None
    if "claims" in data:
        from ortkit.study._claims import claims_from_dict

        claims = claims_from_dict(data["claims"], source, lambda key, why: _fail(source, key, why))
    name, seed, op_profile = data.get("name", Path(source).stem), data.get("seed", 0), data.get("op_profile", True)
    if not isinstance(name, str) or isinstance(seed, bool) or not isinstance(seed, int) or not isinstance(op_profile, bool):
        raise _fail(source, "name/seed/op_profile", "expected a string, an integer and a boolean")
    return StudyPlan(
        name=name, tasks=task_plans,
        batch=_int_list(grid.get("batch", [1]), source, "grid.batch"),
        time=_int_list(grid.get("time", [64]), source, "grid.time"),
        threads=_threads(grid.get("threads", "auto"), source),
        precision=tuple(precision),
        chunk=_int_list(grid.get("chunk", []), source, "grid.chunk", allow_empty=True),
        baseline_time=_int_list(grid.get("baseline_time", []), source, "grid.baseline_time", allow_empty=True),
        budget=tuple(sorted(budget.items())), op_profile=op_profile, seed=seed, scenarios=scenarios, claims=claims,
        tune=_tune(data["tune"], source) if "tune" in data else None,
    )


def load_plan(path: str | os.PathLike[str]) -> StudyPlan:
    """Read a study file.

    Raises:
        PlanFileError: the file cannot be read or is invalid (one line naming the file and key).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PlanFileError(f"{file}: cannot read the study file: {getattr(error, 'strerror', None) or error}") from None
    return parse_plan(text, str(file))


def builtin_text(name: str) -> str:
    """The text of a shipped study file (``quick`` or ``default``)."""
    if name not in BUILTIN_PLANS:
        raise PlanFileError(f"no built-in study {name!r}; built-in: {', '.join(BUILTIN_PLANS)}")
    return resources.files("ortkit.study").joinpath(f"{name}.toml").read_text(encoding="utf-8")


def builtin_plan(name: str) -> StudyPlan:
    """A shipped study (``quick``: about 5 minutes on 2 cores; ``default``: about 30)."""
    return parse_plan(builtin_text(name), f"{name}.toml")

"""The claims study: small trainings that test the classic RNN-vs-CNN claims.

A study file's ``[claims]`` table names a task, the models (zoo presets: the same parameter
budget per task), the sequence lengths, the seeds, a time budget per run and the target metric
that counts as "learned". Each run is cached under ``OUT/cache/claims`` (a resumed study trains
none again) and all of them are written to ``claims.json`` beside the database, where the report
judges each claim (`ortkit.report.ClaimRun`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from ortkit.report import ClaimRun

__all__ = ["ClaimsPlan", "run_claims"]


@dataclass(frozen=True)
class ClaimsPlan:
    """``tasks``: (task, target) pairs trained at every length (the long-range claims);
    ``local_task``: a task decided by local patterns, trained at ``local_length`` only."""

    tasks: tuple[tuple[str, float], ...]
    models: tuple[str, ...]
    lengths: tuple[int, ...]
    seeds: tuple[int, ...] = (0,)
    train_seconds: float = 10.0
    local_task: tuple[str, float] | None = None
    local_length: int = 64

    def jobs(self) -> list[tuple[str, float, int, int, str]]:
        """(task, target, length, seed, model) of every run, in training order."""
        out = [(task, target, length, seed, model) for task, target in self.tasks for length in self.lengths
               for seed in self.seeds for model in self.models]
        if self.local_task is not None:
            out += [(*self.local_task, self.local_length, seed, model) for seed in self.seeds for model in self.models]
        return out


def _one(plan: ClaimsPlan, job: tuple[str, float, int, int, str], cache: Path, log: Callable[[str], None]) -> ClaimRun:
    from ortkit.models import get_spec, train

    task, target, length, seed, model = job
    local = plan.local_task is not None and task == plan.local_task[0] and length == plan.local_length
    key = hashlib.sha256(json.dumps([job, plan.train_seconds, local], sort_keys=True).encode()).hexdigest()[:12]
    file = cache / f"{model}-{task}-{length}-{seed}-{key}.json"
    if file.is_file():
        data = json.loads(file.read_text())
        return ClaimRun(**{**data, "history": tuple(tuple(h) for h in data["history"])})
    result = train(model, task, task_options={"length": length}, time_budget=plan.train_seconds, seed=seed)
    spec = get_spec(model, preset=task)
    history = tuple((int(h["epoch"]), float(h["seconds"]), float(h["val"])) for h in result.history if "val" in h)
    run = ClaimRun(model, spec.family, task, length, seed, spec.parameters, result.metric_name, bool(result.higher_is_better),
                   float(result.metric), int(result.epochs), float(result.training_seconds), target, history,
                   local=plan.local_task is not None and task == plan.local_task[0] and length == plan.local_length)
    file.write_text(json.dumps(asdict(run)))
    log(f"claims: {model} on {task} T = {length} seed {seed}: test {run.metric_name} {run.metric:.4g} after {run.epochs} epochs")
    return run


def run_claims(plan: ClaimsPlan, cache: Path, log: Callable[[str], None] = print) -> list[ClaimRun]:
    """Train every (model, length, seed) of the plan (or reuse the cached run)."""
    cache.mkdir(parents=True, exist_ok=True)
    jobs = plan.jobs()
    log(f"claims: {len(jobs)} training runs of up to {plan.train_seconds:g} s")
    return [_one(plan, job, cache, log) for job in jobs]


def _target(value: Any, key: str, fail: Callable[[str, str], Exception]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise fail(key, f"expected a positive target metric, got {value!r}")
    return float(value)


def claims_from_dict(data: Any, source: str, fail: Callable[[str, str], Exception]) -> ClaimsPlan:
    """A `ClaimsPlan` from a study file's ``[claims]`` table."""
    known = {"tasks", "models", "lengths", "seeds", "train_seconds", "local_task", "local_target", "local_length"}
    if not isinstance(data, dict):
        raise fail("claims", "must be a table")
    unknown = sorted(set(data) - known)
    if unknown:
        raise fail(f"claims.{unknown[0]}", f"unknown key; known keys: {', '.join(sorted(known))}")
    tasks, models, lengths = data.get("tasks"), data.get("models"), data.get("lengths")
    seeds = data.get("seeds", [0])
    if not isinstance(tasks, dict) or not tasks:
        raise fail("claims.tasks", "expected a table of task = target metric (e.g. { adding = 0.05 })")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise fail("claims.models", f"expected a non-empty list of zoo model names, got {models!r}")
    for name, value in (("lengths", lengths), ("seeds", seeds)):
        if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            raise fail(f"claims.{name}", f"expected a non-empty list of integers, got {value!r}")
    seconds = _target(data.get("train_seconds", 10.0), "claims.train_seconds", fail)
    local = None
    if "local_task" in data:
        if not isinstance(data["local_task"], str) or not data["local_task"]:
            raise fail("claims.local_task", "expected a task name")
        local = (data["local_task"], _target(data.get("local_target", 0.9), "claims.local_target", fail))
    local_length = data.get("local_length", 64)
    if isinstance(local_length, bool) or not isinstance(local_length, int) or local_length < 1:
        raise fail("claims.local_length", f"expected a positive integer, got {local_length!r}")
    return ClaimsPlan(tuple((str(t), _target(v, f"claims.tasks.{t}", fail)) for t, v in tasks.items()), tuple(models),
                      tuple(sorted(set(lengths))), tuple(seeds), seconds, local, local_length)

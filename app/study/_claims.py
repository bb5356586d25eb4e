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
    task: str
    models: tuple[str, ...]
    lengths: tuple[int, ...]
    seeds: tuple[int, ...] = (0,)
    train_seconds: float = 10.0
    target: float = 0.05

    @property
    def runs(self) -> int:
        return len(self.models) * len(self.lengths) * len(self.seeds)


def _one(plan: ClaimsPlan, model: str, length: int, seed: int, cache: Path, log: Callable[[str], None]) -> ClaimRun:
    from ortkit.models import get_spec, train

    key = hashlib.sha256(json.dumps([asdict(plan), model, length, seed], sort_keys=True).encode()).hexdigest()[:12]
    file = cache / f"{model}-{plan.task}-{length}-{seed}-{key}.json"
    if file.is_file():
        data = json.loads(file.read_text())
        return ClaimRun(**{**data, "history": tuple(tuple(h) for h in data["history"])})
    result = train(model, plan.task, task_options={"length": length}, time_budget=plan.train_seconds, seed=seed)
    spec = get_spec(model, preset=plan.task)
    history = tuple((int(h["epoch"]), float(h["seconds"]), float(h["val"])) for h in result.history if "val" in h)
    run = ClaimRun(model, spec.family, plan.task, length, seed, spec.parameters, result.metric_name, bool(result.higher_is_better),
                   float(result.metric), int(result.epochs), float(result.training_seconds), plan.target, history)
    file.write_text(json.dumps(asdict(run)))
    log(f"claims: {model} on {plan.task} T = {length} seed {seed}: test {run.metric_name} {run.metric:.4g} after {run.epochs} epochs")
    return run


def run_claims(plan: ClaimsPlan, cache: Path, log: Callable[[str], None] = print) -> list[ClaimRun]:
    """Train every (model, length, seed) of the plan (or reuse the cached run)."""
    cache.mkdir(parents=True, exist_ok=True)
    log(f"claims: {plan.runs} training runs of up to {plan.train_seconds:g} s on {plan.task}")
    return [_one(plan, model, length, seed, cache, log) for length in plan.lengths for seed in plan.seeds for model in plan.models]


def claims_from_dict(data: Any, source: str, fail: Callable[[str, str], Exception]) -> ClaimsPlan:
    """A `ClaimsPlan` from a study file's ``[claims]`` table."""
    known = {"task", "models", "lengths", "seeds", "train_seconds", "target"}
    if not isinstance(data, dict):
        raise fail("claims", "must be a table")
    unknown = sorted(set(data) - known)
    if unknown:
        raise fail(f"claims.{unknown[0]}", f"unknown key; known keys: {', '.join(sorted(known))}")
    task, models, lengths = data.get("task"), data.get("models"), data.get("lengths")
    seeds = data.get("seeds", [0])
    if not isinstance(task, str) or not task:
        raise fail("claims.task", "expected a task name")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise fail("claims.models", f"expected a non-empty list of zoo model names, got {models!r}")
    for name, value in (("lengths", lengths), ("seeds", seeds)):
        if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            raise fail(f"claims.{name}", f"expected a non-empty list of integers, got {value!r}")
    numbers = {k: data.get(k, d) for k, d in (("train_seconds", 10.0), ("target", 0.05))}
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise fail(f"claims.{name}", f"expected a positive number, got {value!r}")
    return ClaimsPlan(task, tuple(models), tuple(sorted(set(lengths))), tuple(seeds), float(numbers["train_seconds"]), float(numbers["target"]))

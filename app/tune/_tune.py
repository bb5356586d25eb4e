"""`tune_model`: the fastest safe configuration of one model, per shape group, as a profile file."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ortkit.base import OrtkitError, UsageError, file_sha256
from ortkit.profiler import DEFAULT_DB, Environment, ProfileSpec, ResultStore, check_eps, read_onnx_metadata, worker_environment, workers_target
from ortkit.runtime import TunedChoice, TunedProfile, canonical_ep, usable_cores

from ortkit.tune._precision import DEFAULT_MAX_METRIC_DROP, PrecisionCheck, precision_variants
from ortkit.tune._race import RaceOutcome, RaceSettings, race_group
from ortkit.tune._space import Candidate, candidates, shape_groups

__all__ = ["TuneResult", "tune_model", "DEFAULT_BUDGET_S", "ALL_PRECISIONS"]

#: seconds of tuning after which no new race stage starts (each group's confirmation still runs)
DEFAULT_BUDGET_S = 120.0
ALL_PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8-static")
# The share of the budget the races may use; the rest is for the winners' confirmations.
CONFIRM_SHARE = 0.8


@dataclass(frozen=True)
class TuneResult:
    """What `tune_model` did: the profile (written to ``path``), each group's race, the precision
    checks, where the measurements are stored and how long it took."""

    profile: TunedProfile
    path: Path | None
    outcomes: tuple[RaceOutcome, ...]
    precisions: tuple[PrecisionCheck, ...]
    db: str
    seconds: float


def _default_out(model: Path) -> Path:
    return model.with_name(f"{model.stem}.tuned.json")


def tune_model(
    model: str | os.PathLike[str],
    *,
    ep: str = "cpu",
    batches: Sequence[int] = (1,),
    times: Sequence[int | None] = (None,),
    precisions: Sequence[str] = ALL_PRECISIONS,
    max_metric_drop: float = DEFAULT_MAX_METRIC_DROP,
    budget_s: float = DEFAULT_BUDGET_S,
    knobs: bool = True,
    per_shape: bool = False,
    db: str | os.PathLike[str] = DEFAULT_DB,
    out: str | os.PathLike[str] | None = None,
    python: str | None = None,
    tags: Sequence[tuple[str, str]] = (),
    race: RaceSettings | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> TuneResult:
    """Search EP options, session settings and precision variants of ``model`` per shape group,
    race them with paired, interleaved measurements, confirm each winner against the default and
    write the profile (``out``, default ``MODEL.tuned.json``) with the winning variant files next
    to it. Re-running the same call resumes: measured candidates come from ``db``.

    Args:
        model: an fp32 .onnx file (or an export folder holding model.onnx).
        ep: the EP spec to tune for (``cpu``, ``openvino``, ``cuda:0``...).
        batches, times: the shapes the profile must serve; ``None`` time: no time axis.
        precisions: which precision variants may race (fp32 always does).
        max_metric_drop: the largest task-metric drop a variant may cost (zoo checkpoints).
        budget_s: seconds after which no new race stage starts.
        knobs: also race session knobs and the EP's options (False: threads x precision only).
        per_shape: one group (one choice) per shape instead of grouping nearby lengths.
        db: the results store every measurement goes to.
        python: interpreter for the workers (another onnxruntime build).
        race: stage rounds, slice length and confirmation settings.
        log: called with one line per step.

    Raises:
        UsageError: a missing model, an unknown or unavailable EP, an unknown precision, a bad budget.
        SettingsError: an invalid combination of settings or EP options.
    """
    started = time.monotonic()
    path = _model_file(model)
    _check_request(budget_s, max_metric_drop, precisions, batches)
    ep = canonical_ep(ep)
    env_dict = worker_environment(python)
    unavailable = check_eps([ep], env_dict).get(ep)
    if unavailable:
        raise UsageError(f"cannot tune: {unavailable}")
    env = Environment.from_dict(env_dict)
    meta = read_onnx_metadata(path)
    if meta.precision != "fp32":
        raise UsageError(f"{path} is a {meta.precision} file: tune the fp32 export (its variants are found next to it)")
    groups = shape_groups(batches, times, per_shape)
    sha = file_sha256(path)
    checks = tuple(precision_variants(path, tuple(p for p in precisions if p != "fp32"), max_metric_drop, groups[0].probe))
    for check in checks:
        log(f"{check.precision}: {'races' if check.allowed else 'left out'}: {check.reason}")
    variants = [("fp32", str(path), sha)] + [(c.precision, c.path, c.sha256) for c in checks if c.allowed]
    label = path.parent.name if path.stem == "model" and path.parent.name else path.stem
    base = ProfileSpec(model=str(path), model_sha256=sha, model_label=label, zoo_name=meta.model, family=meta.family,
                       zoo_overrides=tuple(meta.hyperparameters), tags=tuple(tags))
    entrants = candidates(ep, usable_cores(), variants, knobs=knobs)
    race = race or RaceSettings()
    outcomes = []
    with ResultStore(db) as store:
        if not store.writable:
            raise OrtkitError(f"results database {db} is read-only; choose another --db")
        for number, group in enumerate(groups, start=1):
            # Each group's stages end by its share of the budget, leaving a fifth of it for the
            # confirmations: a slow first group cannot starve the last one.
            deadline = started + budget_s * CONFIRM_SHARE * number / len(groups)
            settings = RaceSettings(race.stage_rounds, race.slice_s, race.confirm_rounds, race.confirm_processes, deadline, race.timeout)
            log(f"group {group.describe()}: {len(entrants)} candidates")
            outcomes.append(race_group(group, entrants, base, store, env, python=python, settings=settings, log=log))
    out_path = Path(out) if out is not None else _default_out(path)
    # The workers' machine and onnxruntime (``--python``/``--target``): where the numbers hold.
    profile = TunedProfile(model_sha256=sha, target=workers_target(env_dict), model_label=label, max_metric_drop=max_metric_drop,
                           choices=tuple(_choice(o, out_path) for o in outcomes))
    profile.save(out_path)
    return TuneResult(profile, out_path, tuple(outcomes), checks, str(db), time.monotonic() - started)


def _check_request(budget_s: float, max_metric_drop: float, precisions: Sequence[str], batches: Sequence[int]) -> None:
    if not (isinstance(budget_s, (int, float)) and 0 < budget_s < 1e6):
        raise UsageError(f"tuning budget must be a positive number of seconds, got {budget_s!r}")
    if not (isinstance(max_metric_drop, (int, float)) and max_metric_drop >= 0):
        raise UsageError(f"--max-metric-drop must be >= 0, got {max_metric_drop!r}")
    unknown = sorted(set(precisions) - set(ALL_PRECISIONS))
    if unknown:
        raise UsageError(f"unknown precision {unknown[0]!r}; use {', '.join(ALL_PRECISIONS)}")
    if not batches or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batches):
        raise UsageError(f"batch sizes must be positive integers, got {list(batches)}")


def _model_file(model: str | os.PathLike[str]) -> Path:
    path = Path(model)
    if path.is_dir() and (path / "model.onnx").is_file():
        path = path / "model.onnx"
    if not path.is_file():
        raise UsageError(f"model file not found: {model} (give an .onnx file or an export folder holding model.onnx)")
    return path.resolve()


def _choice(outcome: RaceOutcome, out_path: Path) -> TunedChoice:
    """The profile's entry for one group; another precision's file is copied next to the profile,
    so the profile and its files move together."""
    chosen: Candidate = outcome.choice
    model_file = None
    if chosen.precision != "fp32":
        target = out_path.resolve().parent / f"{out_path.stem.removesuffix('.tuned')}.{chosen.precision}.onnx"
        if not target.is_file() or file_sha256(target) != chosen.model_sha256:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(chosen.model, target)
        model_file = target.name
    return TunedChoice(shapes=outcome.group.shapes, ep=chosen.ep, settings=chosen.settings, model_sha256=chosen.model_sha256,
                       precision=chosen.precision, ep_options=chosen.ep_options, model_file=model_file,
                       gain=outcome.gain if outcome.confident else None)

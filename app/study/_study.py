"""`ortkit study`: the RNN-vs-CNN deployment trade-off, end to end, in one call.

For each sequence task it trains (or reuses) reference models of each family, exports and verifies
them with their FP16, INT8 and streaming variants, scores every file on the test split with
onnxruntime, measures them over batch x time on every available EP and registered target (and the
PyTorch baseline), and writes the results database and the report. Every stage is cached under
``OUT/cache`` and the database skips what it holds, so a stopped study started again resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ortkit.base import OrtkitError

__all__ = ["StudyPlan", "QUICK", "DEFAULT", "StudyResult", "run_study", "discover_targets", "evaluate_file"]


@dataclass(frozen=True)
class TaskPlan:
    task: str
    models: tuple[str, ...]
    options: tuple[tuple[str, Any], ...] = ()
    train_seconds: float = 60.0


@dataclass(frozen=True)
class StudyPlan:
    """What a study trains and measures, and the scenarios it answers. `QUICK` fits in about 5
    minutes on 2 cores, `DEFAULT` in about 30; both are read from the study files shipped in this
    package (``quick.toml``, ``default.toml``); `ortkit study --plan FILE` reads another."""

    name: str
    tasks: tuple[TaskPlan, ...]
    batch: tuple[int, ...]
    time: tuple[int, ...]
    threads: tuple[int | None, ...]
    precision: tuple[str, ...]
    chunk: tuple[int, ...]
    baseline_time: tuple[int, ...]
    budget: tuple[tuple[str, Any], ...]
    op_profile: bool = True
    seed: int = 0
    #: the deployment questions the report's verdict answers (`ortkit.report.Scenario`)
    scenarios: tuple[Any, ...] = ()
    #: the claims study (`ClaimsPlan`), or None for none
    claims: Any = None
    #: `ortkit tune` each fp32 model over the grid and measure its tuned configuration next to
    #: the default (`TunePlan`), or None for no tuning
    tune: Any = None


@dataclass(frozen=True)
class TunePlan:
    """A study file's ``[tune]`` table: tune each fp32 model on the study's grid after export,
    within ``budget_s`` seconds per model and ``max_metric_drop`` for its precision variants."""

    budget_s: float = 120.0
    max_metric_drop: float = 0.01


def _builtin(name: str) -> StudyPlan:
    # the shipped studies are TOML files (package data), read here once; _plan needs StudyPlan,
    # which is defined above, so this late import is not circular
    from ortkit.study._plan import builtin_plan

    return builtin_plan(name)


QUICK = _builtin("quick")
DEFAULT = _builtin("default")


@dataclass
class StudyResult:
    out: Path
    db: Path
    report: Any
    accuracy: list[Any] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def discover_targets(log: Callable[[str], None] = print) -> list[Any]:
    """The EPs this interpreter's onnxruntime offers (CPU, OpenVINO, CUDA) plus every registered
    target (`ortkit target add`) whose EP is not already covered here. A targets file that cannot
    be read is reported through ``log`` and skipped: the local EPs still run."""
    import onnxruntime as ort

    from ortkit.study._sweepfile import TargetEntry

    local = {"CPUExecutionProvider": "cpu", "OpenVINOExecutionProvider": "openvino", "CUDAExecutionProvider": "cuda"}
    available = ort.get_available_providers()
    targets = [TargetEntry(ep) for name, ep in local.items() if name in available]
    covered = {t.ep for t in targets}
    try:
        from ortkit.profiler import list_targets

        for target in list_targets():
            if target.default_ep not in covered:
                targets.append(TargetEntry(target.default_ep, target=target.name))
                covered.add(target.default_ep)
    except OrtkitError as error:
        log(f"registered targets skipped: {error}")
    return targets


def evaluate_file(path: Path, task: Any) -> float:
    """The task metric of an ONNX file on the test split, computed with onnxruntime (FP16 inputs
    cast as the file declares)."""
    import numpy as np

    from ortkit.runtime import Runtime

    rt = Runtime(path, providers="cpu")
    x, y = task.load("test")
    preds = [np.asarray(rt.run(np.ascontiguousarray(x[i : i + 256]), cast=True, as_tuple=True)[0], dtype=np.float32)
             for i in range(0, len(x), 256)]
    return float(task.metric(np.concatenate(preds), y))


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _checkpoint(model: str, plan: TaskPlan, seed: int, cache: Path, log: Callable[[str], None]) -> tuple[Path, float | None]:
    """Train ``model`` on the task (or reuse the cached checkpoint of the same configuration)."""
    from ortkit.models import train

    options = dict(plan.options)
    folder = cache / f"{model}-{plan.task}-{_digest([model, plan.task, options, plan.train_seconds, seed])}"
    if (folder / "manifest.json").is_file():
        log(f"reusing trained {model} on {plan.task} ({folder.name})")
        return folder, None
    log(f"training {model} on {plan.task} for up to {plan.train_seconds:.0f} s")
    result = train(model, plan.task, task_options=options or None, time_budget=plan.train_seconds, seed=seed, out=folder)
    log(f"trained {model} on {plan.task}: test {result.metric_name} {result.metric:.4g} after {result.epochs} epochs, {result.training_seconds:.0f} s")
    return folder, result.metric


def run_study(out: str | os.PathLike[str] = "study-out", quick: bool = False, *, plan: StudyPlan | None = None, force: bool = False,
              targets: list[Any] | None = None, log: Callable[[str], None] = print, progress: Callable[[Any], None] | None = None,
              measure: Callable[..., list[Any]] | None = None) -> StudyResult:
    """Train, export, verify, score, profile and report the RNN-vs-CNN study into ``out``.

    Args:
        out: output folder: ``results.db``, ``report.md``, ``report.html``, ``figures/``, ``cache/``.
        quick: the small plan (about 5 minutes on 2 cores) instead of the default (about 30).
        plan: a custom `StudyPlan` (overrides ``quick``).
        force: measure again what the database already holds (training and exports stay cached).
        targets: `TargetEntry` list (default: `discover_targets()`).
        log: receives one line per stage.
        progress: receives the profiler's `SweepEvent`s.
        measure: replaces the local measuring step (`measure_files`, same signature), e.g.
            `ortkit.fleet.FleetMeasure` to measure on a Ray cluster.

    Returns:
        A `StudyResult` with the report's paths.

    Raises:
        OrtkitError: the output folder or database cannot be used, a model fails to export.
    """
    from ortkit.models import get_task
    from ortkit.report import CEILING_FILE, CLAIMS_FILE, STUDY_FILE, save_claims, write_report
    from ortkit.report import Accuracy, load_dataset, record_accuracy
    from ortkit.base import file_sha256
    from ortkit.profiler import Budget
    from ortkit.profiler import ResultStore
    from ortkit.study._sweepfile import Grid, ModelEntry, export_variants, measure_files, record_export_failures

    start = time.perf_counter()
    plan = plan or (QUICK if quick else DEFAULT)
    root = Path(out)
    try:
        (root / "cache").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OrtkitError(f"cannot create the study folder {root}: {error.strerror or error}") from None
    db = root / "results.db"
    ResultStore(db).close()  # a foreign or newer database is refused now, not after training
    (root / "cache" / "plan.json").write_text(json.dumps(asdict(plan), indent=2, default=str))

    def stamp(message: str) -> None:
        elapsed = time.perf_counter() - start
        log(f"[{int(elapsed // 60):02d}:{int(elapsed % 60):02d}] {message}")

    stamp(f"study '{plan.name}' into {root}")
    files = []
    scores = []
    export_failures = 0
    for task_plan in plan.tasks:
        task = get_task(task_plan.task, **dict(task_plan.options))
        for model in task_plan.models:
            checkpoint, _ = _checkpoint(model, task_plan, plan.seed, root / "cache" / "checkpoints", stamp)
            name = f"{model}-{task_plan.task}"
            from ortkit.models import get_spec

            causal = get_spec(model).causal
            entry = ModelEntry("checkpoint", str(checkpoint.resolve()), name, task=task_plan.task)
            exported, failures = export_variants(entry, plan.precision, bool(plan.chunk) and causal, root / "cache" / "exports", log=stamp)
            record_export_failures(db, failures)
            export_failures += len(failures)
            for file in exported:
                if file.streaming:
                    continue
                value = evaluate_file(file.path, task)
                scores.append(Accuracy(file_sha256(file.path), file.label, task_plan.task, task.metric_name, bool(task.higher_is_better),
                                       value, file.precision, task.time_steps))
                stamp(f"{file.label}: test {task.metric_name} {value:.4g} (onnxruntime)")
            files.extend(exported)
    record_accuracy(db, scores)

    tuned = _tune_files(files, plan, db, root / "cache" / "tuned", stamp) if plan.tune is not None else {}
    targets = targets if targets is not None else discover_targets(stamp)
    stamp(f"measuring {len(files)} files on {', '.join(t.ep + ('' if t.target is None else f' ({t.target})') for t in targets)}")
    grid = Grid(batch=plan.batch, time=plan.time, threads=plan.threads, precision=plan.precision, chunk=plan.chunk,
                baseline=("torch",), baseline_time=plan.baseline_time)
    # `tuned` only when there is one: a replacement measuring step (the fleet's) keeps its signature
    summaries = (measure or measure_files)(files, targets, grid, db=db, budget=Budget.from_dict(dict(plan.budget)), timeout=300.0,
                              op_profile=plan.op_profile, force=force, log=stamp, progress=progress, **({"tuned": tuned} if tuned else {}))
    counts = {status: sum(s.count(status) for s in summaries) for status in ("ok", "failed", "skipped", "unavailable")}
    counts["failed"] += export_failures
    claims = []
    if plan.claims is not None:
        from ortkit.study._claims import run_claims

        claims = run_claims(plan.claims, root / "cache" / "claims", stamp)
        save_claims(root / CLAIMS_FILE, claims)
    dataset = load_dataset(db)
    ceilings = _ceilings(root / CEILING_FILE, dataset, plan, stamp)
    stamp("writing the report")
    write_scenarios(root / STUDY_FILE, plan.scenarios)
    report = write_report(dataset, root, scenarios=plan.scenarios, claims=claims, ceilings=ceilings)
    stamp(f"done: {report.html}")
    return StudyResult(root, db, report, scores, counts, time.perf_counter() - start)


def _tune_files(files: list[Any], plan: StudyPlan, db: Path, folder: Path, stamp: Callable[[str], None]) -> dict[str, str]:
    """`ortkit.tune.tune_model` on every fp32 offline file over the study's grid (its variants
    race under the accuracy constraint); model path -> profile path. A model that cannot be
    tuned is logged and measured at its defaults only."""
    from ortkit.base import OrtkitError as _Error
    from ortkit.tune import tune_model

    profiles = {}
    for file in files:
        if file.precision != "fp32" or file.streaming:
            continue
        tags = [("base", file.name)] + [(k, v) for k, v in (("family", file.family), ("task", file.task)) if v]
        try:
            result = tune_model(file.path, batches=plan.batch, times=plan.time, max_metric_drop=plan.tune.max_metric_drop,
                                budget_s=plan.tune.budget_s, db=db, out=folder / f"{file.name}.tuned.json", tags=tags)
        except _Error as error:
            stamp(f"{file.label}: not tuned: {error}")
            continue
        gains = ", ".join(o.gain.describe() if o.confident and o.gain else "default" for o in result.outcomes)
        stamp(f"{file.label}: tuned in {result.seconds:.0f} s ({gains})")
        profiles[str(file.path)] = str(result.path)
    return profiles


def _ceilings(path: Path, dataset: Any, plan: StudyPlan, stamp: Callable[[str], None]) -> dict[str, Any]:
    """The GEMM ceiling of each environment this machine measured in (the local CPU EP), measured
    once and kept beside the database; other environments keep what they had."""
    from ortkit.report import load_ceilings, save_ceilings
    from ortkit.study._ceiling import measure_ceiling

    ceilings = load_ceilings(path)
    local = sorted({row.environment_key for row in dataset.rows if row.target == "cpu"})
    for key in local:
        if key not in ceilings:
            threads = next((t for t in plan.threads if t), None) or min(2, os.cpu_count() or 1)
            ceilings[key] = measure_ceiling(key, threads)
            stamp(f"GEMM ceiling: {ceilings[key].ort_gflops:.3g} GFLOP/s (onnxruntime), {ceilings[key].numpy_gflops:.3g} (numpy)")
    save_ceilings(path, list(ceilings.values()))
    return ceilings


def write_scenarios(path: Path, scenarios: tuple[Any, ...]) -> None:
    """The plan's scenarios as ``[[scenario]]`` tables beside the database, so `ortkit report` on
    that database answers the same questions."""
    from dataclasses import fields

    lines = ["# Deployment scenarios of this study (ortkit report reads them from here).", ""]
    for scenario in scenarios:
        lines.append("[[scenario]]")
        for item in fields(scenario):
            value = getattr(scenario, item.name)
            if value is None:
                continue
            lines.append(f"{item.name} = {json.dumps(value)}")  # JSON strings and numbers are valid TOML
        lines.append("")
    try:
        path.write_text("\n".join(lines), encoding="utf-8")
    except OSError as error:
        raise OrtkitError(f"cannot write {path}: {error.strerror or error}") from None


def console_progress() -> tuple[Callable[[str], None], Callable[[Any], None]]:
    """Plain progress lines on stderr (readable in CI logs and terminals alike): one per stage and
    one per measured configuration with its median."""
    import sys

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def progress(event: Any) -> None:
        if event.state != "done" or event.result is None:
            return
        result = event.result
        if result.status == "ok":
            stats = result.stats
            what = f"{stats.p50:.4g} ms" + (" (unstable)" if result.unstable else "")
        else:
            what = f"{result.status}: {(result.message or '').splitlines()[0][:160] if result.message else ''}"
        print(f"  [{event.index + 1}/{event.total}] {event.spec.describe()}: {what}", file=sys.stderr, flush=True)

    return log, progress

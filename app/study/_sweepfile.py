"""Sweeps described by a TOML file: models, targets, grid and measurement settings.

`load_sweep(path)` validates the whole file first (every error is one line naming the key, e.g.
``sweep.toml: grid.batch: expected a list of integers >= 1``); `run_sweep(sweep)` exports what
needs exporting (cached by export configuration), then measures every model file on every target
through `ortkit.profiler.profile`, which skips what the database already holds (resumable). See
docs/study.md for the format and docs/examples/sweep.toml for an example.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ortkit.base import UsageError
from ortkit.study._sweepdef import (
    PRECISIONS,
    Grid,
    ModelEntry,
    SweepFile,
    SweepFileError,
    TargetEntry,
    load_sweep,
    parse_sweep,
)

__all__ = ["SweepFile", "ModelEntry", "TargetEntry", "Grid", "SweepFileError", "load_sweep", "parse_sweep", "run_sweep", "SweepRun",
           "PRECISIONS", "export_variants", "ModelFile", "ExportFailure", "record_export_failures"]

# -- exporting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFile:
    """One ONNX file to measure, and what it is."""

    path: Path
    name: str
    precision: str
    streaming: bool
    zoo_name: str | None
    overrides: tuple[tuple[str, Any], ...]
    family: str | None
    task: str | None

    @property
    def label(self) -> str:
        suffix = "" if self.precision == "fp32" else f"-{self.precision}"
        return f"{self.name}{suffix}{'-streaming' if self.streaming else ''}"


@dataclass(frozen=True)
class ExportFailure:
    """A variant with no file, and the reason, listed in the report: one that failed verification
    (``status`` "failed"), or one the sweep cannot make for this model ("skipped": an .onnx entry
    is measured as it is, so precision = ["fp32", "int8"] over it cannot give an int8 file)."""

    name: str
    kind: str
    reason: str
    base_sha256: str
    zoo_name: str | None
    family: str | None
    task: str | None
    status: str = "failed"

    @property
    def label(self) -> str:
        return f"{self.name}-{self.kind}"


def export_variants(entry: ModelEntry, precisions: Sequence[str], streaming: bool, root: Path, *,
                    log: Callable[[str], None] = lambda message: None) -> tuple[list[ModelFile], list[ExportFailure]]:
    """Export ``entry`` (zoo or checkpoint) with the requested variants into a folder under
    ``root`` named by the export configuration, or reuse that folder when an earlier run wrote it.
    An ONNX entry is returned as it is (its precision read from its metadata).

    A variant that fails verification does not stop the sweep: it is returned as an
    `ExportFailure` (record it with `record_export_failures`) and the other files are measured.
    """
    if entry.kind == "onnx":
        return _onnx_entry(entry, precisions, log)
    wanted = sorted({PRECISIONS[p] for p in precisions if PRECISIONS[p]})
    identity = {"kind": entry.kind, "value": entry.value, "overrides": [list(o) for o in entry.overrides], "variants": wanted,
                "streaming": streaming, "checkpoint_mtime": _mtime(entry)}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:10]
    folder = root / f"{entry.name}-{digest}"
    report = folder / "export.json"
    if not report.is_file():
        from ortkit.exporter import export

        log(f"exporting {entry.name} ({', '.join(['fp32', *wanted])}{', streaming' if streaming else ''}) into {folder}")
        int8 = next((p.split("-", 1)[1] for p in wanted if p.startswith("int8")), None)
        source = entry.value
        export(source, folder, overrides=dict(entry.overrides) or None, fp16="fp16" in wanted, int8=int8, streaming=streaming,
               task=entry.task, keep_going=True)
        if "int8-dynamic" in wanted and "int8-static" in wanted:
            export(source, folder / "static", overrides=dict(entry.overrides) or None, int8="static", task=entry.task, keep_going=True)
    else:
        log(f"reusing the export of {entry.name} in {folder}")
    data = json.loads(report.read_text())
    spec = data.get("spec") or {}
    files = {"fp32": folder / data.get("file", "model.onnx")}
    for variant in data.get("variants", []):
        files[variant["kind"]] = folder / variant["file"]
    failed = {v["kind"]: str(v.get("reason") or "failed verification") for v in data.get("failed_variants", [])}
    static = folder / "static" / "export.json"
    if static.is_file():
        static_data = json.loads(static.read_text())
        for variant in static_data.get("variants", []):
            files[variant["kind"]] = folder / "static" / variant["file"]
        failed.update({v["kind"]: str(v.get("reason") or "failed verification") for v in static_data.get("failed_variants", [])})
    zoo_name = spec.get("name") or None
    # the resolved hyperparameters (a checkpoint's preset for its task included) let the PyTorch
    # baseline rebuild the same architecture
    hparams = spec.get("hyperparameters") or []
    overrides = tuple((str(k), v) for k, v in (hparams.items() if isinstance(hparams, dict) else hparams)) or entry.overrides
    task = entry.task or (data.get("source") or {}).get("task")
    out = []
    failures = []
    for kind in ["fp32", *wanted] + (["streaming"] if streaming else []):
        path = files.get(kind)
        if kind in failed:
            log(f"{entry.name}: the {kind} variant failed verification and is not measured: {failed[kind]}")
            failures.append(ExportFailure(entry.name, kind, failed[kind], str(data.get("sha256", "")), zoo_name, spec.get("family"), task))
            continue
        if path is None or not path.is_file():
            raise UsageError(f"the export of {entry.name} in {folder} has no {kind} file; delete that folder to export again")
        precision = "fp32" if kind == "streaming" else kind
        out.append(ModelFile(path, entry.name, precision, kind == "streaming", zoo_name, overrides, spec.get("family"), task))
    return out, failures


def _onnx_entry(entry: ModelEntry, precisions: Sequence[str], log: Callable[[str], None]) -> tuple[list[ModelFile], list[ExportFailure]]:
    """An .onnx entry as it is, and each other requested precision as skipped, with the reason."""
    from ortkit.base import file_sha256
    from ortkit.profiler import read_onnx_metadata

    path = Path(entry.value)
    meta = read_onnx_metadata(path)
    task = entry.task or meta.task
    skipped = []
    for precision in dict.fromkeys(PRECISIONS[p] or "fp32" for p in precisions):
        if precision == meta.precision:
            continue
        reason = (f"{entry.name} is an .onnx file of precision {meta.precision}: a sweep measures it as it is and makes no "
                  f"{precision} variant of it; export one (ortkit export ... --fp16 / --int8) and list that file")
        log(f"{entry.name}: {precision} skipped: {reason}")
        skipped.append(ExportFailure(entry.name, precision, reason, file_sha256(path), meta.model, meta.family, task, status="skipped"))
    return [ModelFile(path, entry.name, meta.precision, meta.streaming, meta.model, (), meta.family, task)], skipped


def record_export_failures(db: str | os.PathLike[str], failures: Sequence[ExportFailure]) -> None:
    """Store each failed variant as a failed result, so the report lists it with its reason
    beside the configurations that were measured."""
    if not failures:
        return
    from ortkit.profiler import collect_environment
    from ortkit.profiler import ProfileSpec
    from ortkit.profiler import Result, ResultStore

    environment = collect_environment()
    with ResultStore(db) as store:
        for failure in failures:
            tags = [("base", failure.name)] + [(k, v) for k, v in (("family", failure.family), ("task", failure.task)) if v]
            spec = ProfileSpec(
                model=f"{failure.label}.onnx (not written)",
                model_sha256=hashlib.sha256(f"{failure.base_sha256}:{failure.kind}".encode()).hexdigest(),
                model_label=failure.label, precision="fp32" if failure.kind == "streaming" else failure.kind,
                zoo_name=failure.zoo_name, tags=tuple(tags),
            )
            message = failure.reason if failure.status == "skipped" else f"export: the {failure.kind} variant failed verification: {failure.reason}"
            store.add(Result(spec, environment, failure.status, message=message))


def _causal(entry: ModelEntry) -> bool:
    """Whether the zoo model behind ``entry`` can be streamed (a checkpoint names its model in
    its manifest)."""
    from ortkit.models import get_spec

    name, overrides = entry.value, dict(entry.overrides)
    if entry.kind == "checkpoint":
        manifest = json.loads((Path(entry.value) / "manifest.json").read_text())
        name, overrides = manifest.get("model", ""), dict(manifest.get("overrides") or {})
    try:
        return bool(get_spec(name, **overrides).causal)
    except Exception:  # noqa: BLE001 - an unknown model is reported by the exporter itself
        return False


def _mtime(entry: ModelEntry) -> float | None:
    if entry.kind != "checkpoint":
        return None
    try:
        return (Path(entry.value) / "model.safetensors").stat().st_mtime
    except OSError:
        return None


# -- running -------------------------------------------------------------------------------------


@dataclass
class SweepRun:
    """What `run_sweep` did: the database, per-target summaries and the report (if written)."""

    db: Path
    summaries: list[Any] = field(default_factory=list)
    report: Any = None
    export_failures: list[ExportFailure] = field(default_factory=list)

    def count(self, status: str) -> int:
        measured = sum(s.count(status) for s in self.summaries)
        return measured + sum(1 for f in self.export_failures if f.status == status)


def run_sweep(sweep: SweepFile, *, db: str | os.PathLike[str] | None = None, report: str | os.PathLike[str] | None = None, force: bool = False,
              log: Callable[[str], None] = lambda message: None, progress: Callable[[Any], None] | None = None,
              measure: Callable[..., list[Any]] | None = None) -> SweepRun:
    """Export and measure everything ``sweep`` describes into ``db`` (resumable), then write the
    report into ``report`` when given (or when the file names one).

    ``measure`` replaces the local measuring step (`measure_files`, same signature): e.g.
    `ortkit.fleet.FleetMeasure`, which measures on a Ray cluster's nodes.

    Returns:
        A `SweepRun`.
    """
    from ortkit.profiler import Budget

    from ortkit.profiler import ResultStore, StoreError

    db_path = Path(db) if db is not None else sweep.db or sweep.path.with_suffix(".db")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create the folder of results database {db_path}: {error.strerror or error}") from None
    # Everything that can fail without measuring fails now, not after minutes of exporting: the
    # database (foreign, newer, unwritable) and each target's interpreter and EP name.
    with ResultStore(db_path) as store:
        if not store.writable:
            raise StoreError(f"results database {db_path} is read-only; choose another --db")
    if measure is None:
        check_targets(sweep.targets)
    exports = db_path.parent / "ortkit-exports"
    files: list[ModelFile] = []
    export_failures: list[ExportFailure] = []
    for entry in sweep.models:
        streaming = bool(sweep.grid.chunk) and entry.kind != "onnx" and _causal(entry)
        if sweep.grid.chunk and not streaming and entry.kind != "onnx":
            log(f"{entry.name} is not causal: no streaming variant, grid.chunk ignored for it")
        exported, failures = export_variants(entry, sweep.grid.precision, streaming, exports, log=log)
        files.extend(exported)
        record_export_failures(db_path, failures)
        export_failures.extend(failures)
    run = SweepRun(db=db_path, export_failures=export_failures)
    run.summaries = (measure or measure_files)(files, sweep.targets, sweep.grid, db=db_path, budget=Budget.from_dict(sweep.budget),
                                  timeout=sweep.timeout_s, op_profile=sweep.op_profile, force=force, log=log, progress=progress)
    out = report if report is not None else sweep.report
    if out is not None:
        from ortkit.report import write_report
        from ortkit.report import load_dataset

        run.report = write_report(load_dataset(db_path), out)
    return run


def check_targets(targets: Sequence[TargetEntry]) -> None:
    """Resolve every target's interpreter and check its EP name there.

    Raises:
        TargetError: a named target is unknown or its interpreter cannot run ortkit's worker.
        UsageError: an EP name that no onnxruntime knows (an EP that this build lacks is not an
            error: its configurations are recorded as skipped, with the reason).
    """
    from ortkit.profiler import worker_environment
    from ortkit.profiler import check_eps

    environments: dict[str | None, dict[str, Any]] = {}
    for target in targets:
        python = target.python
        if target.target is not None:
            from ortkit.profiler import resolve_target as resolve

            python = resolve(target.target).python
        if python not in environments:
            environments[python] = worker_environment(python)
        check_eps([target.ep], environments[python])


def _add_tuned(summaries: Sequence[Any], profile_path: str) -> None:
    """The tuned twin of each pending onnxruntime configuration (one per shape), measured in the
    same rounds; a twin the database already holds is not measured again."""
    from ortkit.profiler import IN_PROGRESS, ResultStore, tuned_spec
    from ortkit.runtime import load_tuned_profile

    tuned_profile = load_tuned_profile(profile_path)
    seen: set[str] = set()
    for summary in summaries:
        with ResultStore(summary.db, readonly=True) as store:
            for spec, env, _ in list(summary.pending) + [(r.spec, r.environment, None) for r in summary.results]:
                if spec.runner != "ort" or spec.concurrency != 1:
                    continue
                twin = tuned_spec(spec, tuned_profile, profile_path)
                key = twin.key(env.key)
                if key in seen:
                    continue
                seen.add(key)
                stored = store.get(key)
                if stored is not None and stored.status == "ok" and stored.metrics.stop_reason != IN_PROGRESS:
                    summary.results.append(stored)
                else:
                    summary.pending.append((twin, env, stored))


def measure_files(files: Sequence[ModelFile], targets: Sequence[TargetEntry], grid: Grid, *, db: Path, budget: Any, timeout: float = 600.0,
                  op_profile: bool = False, force: bool = False, log: Callable[[str], None] = lambda message: None,
                  progress: Callable[[Any], None] | None = None, mode: str = "interleaved",
                  tuned: Mapping[str, str] | None = None) -> list[Any]:
    """Measure every file on every target over ``grid`` into ``db`` (what is there is skipped),
    by default in interleaved rounds over all files (``mode="isolated"``: one after another).

    Offline files run over batch x time (x concurrency); streaming files over batch x chunk (the
    spec's time is the chunk); the PyTorch baseline runs for FP32 offline zoo models over
    ``grid.baseline_time`` (default: every time). Each result carries the tags ``base`` (model
    name), ``target``, and ``family``/``task`` when known, which the report groups by.
    ``tuned`` (model path -> `ortkit tune` profile): each of that file's onnxruntime
    configurations is also measured with the profile's choice (`ortkit.profiler.tuned_spec`,
    tagged ``tuned``), in the same interleaved rounds as the default one.
    """
    from ortkit.base import file_sha256
    from ortkit.profiler import ModelSource, measure_pending, profile

    for target in targets:
        if target.node is not None:
            raise SweepFileError(f"target {target.ep} on node kind {target.node!r} runs on a Ray cluster: add --ray ADDRESS (docs/fleet.md)")
    summaries = []
    for target in targets:
        python = target.python
        if target.target is not None:
            from ortkit.profiler import resolve_target as resolve

            python = resolve(target.target).python
        for file in files:
            source = ModelSource(path=str(file.path), label=file.label, sha256=file_sha256(file.path), zoo_name=file.zoo_name,
                                 zoo_overrides=file.overrides, precision=file.precision)
            tags = [("base", file.name), ("target", target.label)]
            if file.family:
                tags.append(("family", file.family))
            if file.task:
                tags.append(("task", file.task))
            extra: dict[str, Any] = {}
            if target.options:
                extra["ep_options"] = {target.ep: dict(target.options)}
            log(f"measuring {file.label} on {target.ep} ({target.label})")
            if file.streaming:
                calls = [dict(times=(c,), chunks=(c,), concurrency=(1,), baseline=()) for c in grid.chunk]
            else:
                calls = [dict(times=grid.time, chunks=(None,), concurrency=grid.concurrency, baseline=())]
                if grid.baseline and file.precision == "fp32" and file.zoo_name and target is targets[0]:
                    # the baseline runs here, whatever the target: once is enough
                    calls[0]["baseline"] = grid.baseline if grid.baseline_time is None or set(grid.baseline_time) == set(grid.time) else ()
                    if not calls[0]["baseline"]:
                        calls.append(dict(times=grid.baseline_time, chunks=(None,), concurrency=grid.concurrency, baseline=grid.baseline))
            for call in calls:
                # the baseline-only call repeats the ORT configurations at those lengths; with the same
                # spec (op_profile included) they are found in the database, not measured again
                summaries.append(profile([source], [target.ep], grid.batch, call.pop("times"), grid.threads, db=str(db), python=python,
                                          op_profile=op_profile, force=force, budget=budget, timeout=timeout,
                                          tags=tuple(tags), progress=progress, mode=mode, defer=True, **call, **extra))
            if tuned and str(file.path) in tuned and target is targets[0]:
                _add_tuned(summaries[-len(calls):], tuned[str(file.path)])
    # Every file's configurations are measured together, in interleaved rounds per shape: the
    # comparisons the report states (CNN vs RNN, INT8 vs FP32, ORT vs PyTorch) are then paired.
    pending = sum(len(s.pending) for s in summaries)
    if pending:
        log(f"measuring {pending} configurations in interleaved rounds")
        measure_pending(summaries, progress=progress)
    return summaries


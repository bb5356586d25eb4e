"""A profiling sweep: every model x EP x threads x batch x time (x chunk x concurrency), each in
its own worker, each result committed to the store the moment it exists.

Everything that can be checked without measuring is checked first (model files, EP names, the
shapes each model can take), so a bad grid fails in a second with one clear line, not after an
hour of measuring.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence


from ortkit.base import OrtkitError, UsageError
from ortkit.profiler._environment import Environment
from ortkit.profiler._isolation import run_isolated, worker_environment
from ortkit.profiler._plan import plan, torch_version
from ortkit.profiler._records import PooledRun, ProcessRun, WorkerRequest
from ortkit.profiler._result import DONE_STATUSES, Result
from ortkit.profiler._spec import Budget, ProfileSpec, _freeze, file_sha256
from ortkit.profiler._store import ResultStore
from ortkit.profiler._claims import Claims

__all__ = ["profile", "plan", "torch_version", "measure_processes", "measure_pending", "SweepSummary", "SweepEvent", "ModelSource",
           "resolve_model", "DEFAULT_DB", "MODES"]

#: how a sweep measures: ``interleaved`` (rounds, the default) or ``isolated`` (one configuration
#: after another, each in ``Budget.processes`` fresh workers)
MODES = ("interleaved", "isolated")

DEFAULT_DB = "ortkit-results.db"
#: exit status of `ortkit profile` / `ortkit sweep` when some configurations failed (all stored)
FAILED_EXIT_CODE = 4
#: seconds between looks at a configuration another sweep is measuring
CLAIM_POLL_S = 1.0


@dataclass(frozen=True)
class ModelSource:
    """A model file to measure and what is known about where it came from."""

    path: str
    label: str
    sha256: str
    zoo_name: str | None = None
    zoo_overrides: tuple[tuple[str, Any], ...] = ()
    precision: str = "fp32"


@dataclass(frozen=True)
class SweepEvent:
    """Progress: ``state`` is ``"start"`` (about to measure ``spec``), ``"done"`` (``result`` is
    stored) or ``"resumed"`` (already in the store, not measured again)."""

    index: int
    total: int
    state: str
    spec: ProfileSpec
    result: Result | None = None


@dataclass
class SweepSummary:
    """What a sweep did. ``results`` holds every configuration of the grid (resumed ones too), in
    grid order; ``other_environments`` are keys of other environments whose results share the
    database but were not touched or mixed in."""

    db: str
    environment: Environment
    results: list[Result] = field(default_factory=list)
    measured: int = 0
    resumed: int = 0
    other_environments: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: (spec, environment, in-progress row or None) left to measure in interleaved rounds; filled
    #: by `profile(..., defer=True)` and emptied by `measure_pending`
    pending: list[tuple[ProfileSpec, Environment, Result | None]] = field(default_factory=list)
    python: str | None = None
    timeout: float = 600.0
    budget: Budget = field(default_factory=Budget)
    #: the claims on ``pending`` configurations: held (renewed by their heartbeat) until each
    #: result is stored, so that another sweep on the same database waits for it instead of
    #: measuring it too; closed by `measure_pending`
    claims: Claims | None = field(default=None, repr=False)
    #: configurations another sweep held when this one looked, read (or taken over) by
    #: `measure_pending` once this sweep's own are measured: waiting before them could deadlock
    #: two sweeps that each hold what the other waits for
    waiting: Callable[[], None] | None = field(default=None, repr=False)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "db": self.db, "environment": self.environment.to_dict(), "measured": self.measured,
            "resumed": self.resumed, "counts": {s: self.count(s) for s in ("ok", "failed", "skipped", "unavailable")},
            "other_environments": self.other_environments, "notes": self.notes,
            "results": [r.to_dict() for r in self.results],
        }


def resolve_model(item: str | os.PathLike[str]) -> ModelSource:
    """An .onnx file (or an export folder holding ``model.onnx``) and what its metadata says.

    The profiler measures files; zoo names are exported to files by the application layer
    (``ortkit.study.resolve_models``) before they reach it.

    Raises:
        UsageError: the file does not exist.
    """
    text = os.fspath(item)
    path = Path(text)
    if path.is_dir() and (path / "model.onnx").is_file():
        path = path / "model.onnx"
    if not path.is_file():
        raise UsageError(f"model file not found: {text} (give an .onnx file or an export folder holding model.onnx)")
    meta = read_onnx_metadata(path)
    return ModelSource(
        path=str(path.resolve()), label=path.parent.name if path.stem == "model" and path.parent.name else path.stem, sha256=file_sha256(path),
        zoo_name=meta.model, zoo_overrides=tuple((k, _freeze(v)) for k, v in meta.hyperparameters), precision=meta.precision,
    )


def read_onnx_metadata(path: Path) -> Any:
    """The typed ``ortkit.*`` metadata (`ortkit.runtime.OrtkitMetadata`) of an ONNX file, read
    without its external data; an unreadable file -> UsageError."""
    from ortkit.runtime import read_metadata

    try:
        return read_metadata(path)
    except Exception as error:  # noqa: BLE001 - protobuf raises DecodeError
        raise UsageError(f"{path} is not a readable ONNX model: {type(error).__name__}") from None


def onnx_metadata(path: Path) -> dict[str, str]:
    """An ONNX file's metadata_props (without loading external data); unreadable -> UsageError."""
    return dict(read_onnx_metadata(path).props)


def check_eps(eps: Sequence[str], environment: dict[str, Any], plugins: Sequence[str] = ()) -> dict[str, str | None]:
    """EP spec -> None if available, else the reason it is not. Unknown names raise. A plugin
    library's name (``--ep-library NAME=PATH``) is left to the worker, which registers the library
    and records the EP as skipped, with onnxruntime's reason, when it offers no device."""
    # Imported here: `import ortkit.profiler` works without onnxruntime (ortkit env, the report).
    from ortkit.runtime import is_known_provider, provider_name, short_ep_name

    available = list(environment.get("execution_providers") or [])
    plugin_eps = {d.split(":", 1)[0] for d in environment.get("ep_devices") or []}
    shorts = [short_ep_name(p) for p in available if p != "AzureExecutionProvider"]
    out: dict[str, str | None] = {}
    for ep in eps:
        if ep.split(":", 1)[0] in plugins:
            out[ep] = None
            continue
        name = provider_name(ep)
        if name is None:
            out[ep] = None
            continue
        if not is_known_provider(name) and name not in plugin_eps:
            raise UsageError(f"unknown execution provider {ep!r}; available here: {', '.join(shorts) or 'none'}")
        if name in available or name in plugin_eps:
            out[ep] = None
        else:
            dist = f"{environment.get('onnxruntime_distribution')} {environment.get('onnxruntime')}"
            out[ep] = f"{ep} ({name}) is not available in this environment ({dist}, python {environment.get('python')}); it offers {', '.join(shorts) or 'nothing'}"
    return out


def worker_target(python: str | None, target: str | None) -> tuple[str | None, str, tuple[tuple[str, str], ...]]:
    """Resolve ``--python``/``--target`` into (interpreter, default EP spec, tags for the results).

    Raises:
        UsageError: both were given.
        TargetError: the target does not exist or its interpreter is gone.
    """
    if target is None:
        return python, "cpu", ()
    if python is not None:
        raise UsageError("--python and --target both name the worker interpreter: give only one")
    from ortkit.profiler.targets import resolve

    found = resolve(target)
    return found.python, found.default_ep, (("target", found.name),)


def profile(
    models: Sequence[str | os.PathLike[str] | ModelSource],
    eps: Sequence[str] = ("cpu",),
    batches: Sequence[int] = (1,),
    times: Sequence[int | None] = (None,),
    threads: Sequence[int | None] = (None,),
    *,
    concurrency: Sequence[int] = (1,),
    chunks: Sequence[int | None] = (None,),
    baseline: Sequence[str] = (),
    db: str | os.PathLike[str] = DEFAULT_DB,
    python: str | None = None,
    op_profile: bool = False,
    force: bool = False,
    budget: Budget = Budget(),
    timeout: float = 600.0,
    tags: Sequence[tuple[str, str]] = (),
    ep_options: Mapping[str, Mapping[str, Any]] | None = None,
    ep_library: Mapping[str, str] | None = None,
    progress: Callable[[SweepEvent], None] | None = None,
    baseline_source: str | None = None,
    max_threads: int | None = None,
    mode: str = "isolated",
    defer: bool = False,
    tuned: str | os.PathLike[str] | None = None,
) -> SweepSummary:
    """Measure a grid of configurations, each in its own worker, into a results database.

    ``mode="interleaved"`` (the default of sweep files and the study) measures the configurations
    of each shape side by side in rounds (see `ortkit.profiler.measure_interleaved`);
    ``"isolated"`` (this function's default) measures one after the other, each in
    ``budget.processes`` fresh workers; ``"auto"`` (`ortkit profile`'s default) is interleaved
    when the grid has more than one configuration. Concurrency > 1 is always isolated.
    With ``defer=True`` (interleaved only) nothing is measured yet: the configurations are left in
    ``summary.pending`` for one `measure_pending` call over several sweeps, so configurations of
    different calls (models, files) share rounds.

    A configuration already in the database for this environment (ok, skipped or unavailable) is
    not measured again unless ``force``; failed ones are retried. Results of other environments in
    the same database are left alone and never mixed in.

    Args:
        models: .onnx paths, export folders or `ModelSource`s.
        eps: EP specs (``"cpu"``, ``"openvino"``, ``"cuda:0"``...).
        batches, times, threads, concurrency, chunks: the grid axes (``None`` time: a model without
            time axis; ``None`` threads: the runtime's default; ``None`` chunk: offline).
        baseline: ``"torch"`` (eager) and/or ``"torch-compile"``: the model's own PyTorch source
            (see ``baseline_source``), run under this interpreter (where torch is).
        db: the SQLite results file.
        python: interpreter for the ORT workers (another environment's onnxruntime).
        op_profile: also record per-op-type time shares from onnxruntime's profiler.
        force: measure again what is already stored.
        budget: warm-up and repetition settings.
        timeout: seconds a worker may run before it is killed and recorded as hung.
        tags: extra (key, value) labels stored in each spec (e.g. ``("target", "openvino")``).
        ep_options: provider options per EP spec, ``{"openvino": {"num_streams": 2}}`` (values
            stored as strings; part of each configuration's identity).
        ep_library: plugin EP libraries ``{"name": path}`` the workers register; ``name`` then
            works as an EP spec.
        progress: called with a `SweepEvent` before and after each configuration.
        baseline_source: ``file.py:factory`` or ``pkg.module:factory`` building the PyTorch
            module of the (one) model, when its export does not record one.
        max_threads: the most threads a configuration may ask for (default: 4 per usable core).
        mode: ``"interleaved"``, ``"isolated"`` or ``"auto"``.
        defer: leave interleaved configurations in ``summary.pending``.
        tuned: a tuned profile file (``ortkit tune``): every onnxruntime configuration gets the
            profile's choice for its shape (see `tuned_spec`) and the tag ``("tuned", "1")``.

    Returns:
        A `SweepSummary`.

    Raises:
        UsageError: an unknown EP or baseline, a missing model, a shape a model cannot take.
        StoreError: the database cannot be used.
    """
    from ortkit.runtime import canonical_ep

    _check_axes(models, eps, batches, times, threads, concurrency, chunks, timeout)
    if mode not in (*MODES, "auto"):
        raise UsageError(f"unknown measuring mode {mode!r}; expected one of {', '.join(MODES)} or auto")
    # One spelling per EP ("gpu" is "cuda"), so a configuration is one row whatever its spelling;
    # plugin registration names are left as given.
    eps = list(dict.fromkeys(ep if ep.split(":", 1)[0] in (ep_library or {}) else canonical_ep(ep) for ep in eps))
    with ResultStore(db) as store:
        if not store.writable:
            raise OrtkitError(f"results database {db} is read-only; choose another --db")
        sources = [m if isinstance(m, ModelSource) else resolve_model(m) for m in models]
        env_dict = worker_environment(python)
        environment = Environment.from_dict(env_dict)
        unavailable = check_eps(eps, env_dict, plugins=list(ep_library or {}))
        specs, notes = plan(sources, eps, batches, times, threads, concurrency, chunks, baseline, op_profile, tags, ep_options, ep_library,
                            baseline_source, max_threads=max_threads)
        if tuned is not None:
            specs, unavailable = _apply_tuned(specs, tuned, unavailable, env_dict, ep_library)
        if mode == "auto":
            # One configuration has nothing to be compared with in its rounds.
            mode = "interleaved" if len(specs) > 1 else "isolated"
        local_env = environment
        if any(s.runner != "ort" for s in specs) and python is not None:
            local_env = Environment.from_dict(worker_environment(None))

        summary = SweepSummary(db=str(db), environment=environment, notes=notes, python=python, timeout=timeout, budget=budget)
        summary.other_environments = [k for k in store.environments() if k not in {environment.key, local_env.key}]
        _measure_grid(store, specs, summary, local_env, unavailable, budget=budget, python=python, timeout=timeout,
                      force=force, progress=progress, interleaved=mode == "interleaved")
    if (summary.pending or summary.waiting) and not defer:
        measure_pending([summary], progress=progress)
    return summary


def _apply_tuned(specs: list[ProfileSpec], tuned: str | os.PathLike[str], unavailable: dict[str, str | None],
                 env_dict: dict[str, Any], ep_library: Mapping[str, str] | None) -> tuple[list[ProfileSpec], dict[str, str | None]]:
    """The grid with the tuned profile's choices (configurations that became one merge), and
    the availability of the EPs the profile chose."""
    from ortkit.profiler._tuned import tuned_spec, workers_target
    from ortkit.runtime import load_tuned_profile

    profile = load_tuned_profile(tuned)
    target = workers_target(env_dict)
    specs = list(dict.fromkeys(tuned_spec(s, profile, tuned, target) if s.runner == "ort" else s for s in specs))
    chosen = sorted({s.ep for s in specs if s.runner == "ort"} - set(unavailable))
    return specs, {**unavailable, **check_eps(chosen, env_dict, plugins=list(ep_library or {}))}


def measure_pending(summaries: Sequence[SweepSummary], *, progress: Callable[[SweepEvent], None] | None = None,
                    seed: int | None = None) -> None:
    """Measure the configurations `profile(..., defer=True)` left pending in ``summaries`` (all
    writing into one database, with one budget: the first summary's), in interleaved rounds, and
    put each result into its summary."""
    try:
        _measure_queued(summaries, progress, seed)
        for summary in summaries:
            while summary.waiting is not None:
                wait, summary.waiting = summary.waiting, None
                wait()  # may queue again what a killed sweep left (its claim expired)
                _measure_queued([summary], progress, seed)
    finally:
        for summary in summaries:
            summary.pending, summary.waiting = [], None
            if summary.claims is not None:
                summary.claims.close()
                summary.claims = None


def _measure_queued(summaries: Sequence[SweepSummary], progress: Callable[[SweepEvent], None] | None, seed: int | None) -> None:
    from ortkit.profiler._rounds import measure_interleaved

    work = [(summary, item) for summary in summaries for item in summary.pending]
    if not work:
        return
    owner = {id(item[0]): summary for summary, item in work}
    keys = {id(spec): spec.key(env.key) for _, (spec, env, _) in work}
    total = len(work)
    done = [0]

    def python(spec: ProfileSpec) -> str | None:
        return owner[id(spec)].python if spec.runner == "ort" else None

    def on_start(spec: ProfileSpec) -> None:
        if progress:
            progress(SweepEvent(done[0], total, "start", spec))

    def on_done(result: Result) -> None:
        summary = owner[id(result.spec)]
        if summary.claims is not None:
            summary.claims.release(keys[id(result.spec)])  # stored: another sweep may read it now
        summary.results.append(result)
        summary.measured += 1
        if progress:
            progress(SweepEvent(done[0], total, "done", result.spec, result))
        done[0] += 1

    first = summaries[0]
    with ResultStore(first.db) as store:
        measure_interleaved([item for _, item in work], first.budget, store, python=python, timeout=max(s.timeout for s in summaries),
                            on_start=on_start, on_done=on_done, seed=seed)
    for summary in summaries:
        summary.pending = []


def _measure_grid(store: ResultStore, specs: Sequence[ProfileSpec], summary: SweepSummary, local_env: Environment,
                  unavailable: Mapping[str, str | None], *, budget: Budget, python: str | None, timeout: float, force: bool,
                  progress: Callable[[SweepEvent], None] | None, interleaved: bool = False) -> None:
    """Measure (or resume) each spec in order, storing each result the moment it exists; in
    interleaved mode, what can be interleaved is left in ``summary.pending``. A spec another sweep
    has claimed in the same database is left for the end, when its result is read (or its expired
    claim taken over): two sweeps split the grid instead of both measuring it."""
    total = len(specs)
    done: dict[int, Result] = {}
    claims = Claims(store.path)
    try:
        deferred = [i for i, spec in enumerate(specs)
                    if not _measure_one(store, claims, i, total, spec, summary, local_env, unavailable, done, budget=budget,
                                        python=python, timeout=timeout, force=force, progress=progress, interleaved=interleaved)]
    except BaseException:
        claims.close()
        raise

    def wait(open_store: ResultStore | None = None) -> None:
        with (ResultStore(summary.db) if open_store is None else nullcontext(open_store)) as again:
            for index in deferred:
                # Measured by the other sweep while this one waited: its result is taken even with
                # ``force`` (it is newer than this sweep's start).
                while not _measure_one(again, claims, index, total, specs[index], summary, local_env, unavailable, done,
                                       budget=budget, python=python, timeout=timeout, force=False, progress=progress,
                                       interleaved=interleaved):
                    time.sleep(CLAIM_POLL_S)
        summary.results.extend(done.pop(i) for i in sorted(done))

    if interleaved and (summary.pending or deferred):
        # The queued configurations stay claimed until measured (`measure_pending`).
        summary.claims, summary.waiting = claims, wait
        summary.results.extend(done.pop(i) for i in sorted(done))
        return
    try:
        wait(store)
    finally:
        claims.close()


def _measure_one(store: ResultStore, claims: Claims, index: int, total: int, spec: ProfileSpec, summary: SweepSummary,
                 local_env: Environment, unavailable: Mapping[str, str | None], done: dict[int, Result], *,
                 budget: Budget, python: str | None, timeout: float, force: bool,
                 progress: Callable[[SweepEvent], None] | None, interleaved: bool = False) -> bool:
    """Resume or measure one spec into ``done[index]``; False (nothing done) when another sweep
    holds its claim."""
    from ortkit.profiler._rounds import IN_PROGRESS

    env = summary.environment if spec.runner == "ort" else local_env
    key = spec.key(env.key)
    if not claims.take(key):
        return False
    queued = False
    try:
        # Looked up now, not once before the loop: another sweep writing into the same database
        # may have finished this configuration meanwhile.
        previous = None if force else store.get(key)
        if previous is not None and _reusable(previous, spec):
            done[index] = previous
            summary.resumed += 1
            if progress:
                progress(SweepEvent(index, total, "resumed", spec, previous))
            return True
        in_progress = previous is not None and previous.ok and previous.metrics.stop_reason == IN_PROGRESS
        if interleaved and spec.concurrency == 1 and not (spec.runner == "ort" and unavailable.get(spec.ep)):
            # Measured later, side by side with its shape's other configurations, in rounds.
            summary.pending.append((spec, env, previous if in_progress and not force else None))
            queued = True  # still claimed: released when its result is stored
            return True
        if progress:
            progress(SweepEvent(index, total, "start", spec))
        if spec.runner == "ort" and unavailable.get(spec.ep):
            result = Result(spec=spec, environment=env, status="skipped", message=unavailable[spec.ep])
        else:
            runs = measure_processes(spec, budget, python=python if spec.runner == "ort" else None, timeout=timeout)
            result = runs.to_result(spec, env, budget)
        store.add(result)
    finally:
        if not queued:
            claims.release(key)
    done[index] = result
    summary.measured += 1
    if progress:
        progress(SweepEvent(index, total, "done", spec, result))
    return True


def measure_processes(spec: ProfileSpec, budget: Budget, *, python: str | None = None, timeout: float = 600.0) -> PooledRun:
    """``budget.processes`` fresh workers measuring ``spec`` one after another, pooled; the first
    that does not measure ends it (its failure stands for the configuration)."""
    runs: list[ProcessRun] = []
    request = WorkerRequest(spec, budget)
    while len(runs) < budget.processes and (not runs or runs[-1].status == "ok"):
        runs.append(run_isolated(request, python=python, timeout=timeout))
    return PooledRun.pool(runs)


def _check_axes(models: Sequence[Any], eps: Sequence[str], batches: Sequence[int], times: Sequence[int | None],
                threads: Sequence[int | None], concurrency: Sequence[int], chunks: Sequence[int | None], timeout: float) -> None:
    """A grid that cannot be run fails before anything is opened."""
    if not models:
        raise UsageError("no model given")
    for name, values in (("EP", eps), ("batch size", batches), ("time length", times), ("thread count", threads),
                         ("concurrency", concurrency), ("chunk length", chunks)):
        if not values:
            raise UsageError(f"no {name} given: the grid would be empty")
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"timeout must be a positive number of seconds, got {timeout!r}")


def _reusable(previous: Result, spec: ProfileSpec) -> bool:
    """Whether a stored result answers ``spec``: finished (failures are retried) and, when an op
    profile is asked for, carrying one (a latency measured without it is measured again, with it)."""
    if previous.status not in DONE_STATUSES or previous.metrics.stop_reason == "rounds-in-progress":
        return False
    return not (spec.op_profile and previous.status == "ok" and previous.op_profile is None)


def parse_list(text: str | None, kind: type = int, allow_default: bool = False) -> list[Any]:
    """``"1,8,64"`` -> [1, 8, 64] (for CLI options); ``"default"`` -> None when allowed."""
    if text is None or text == "":
        return []
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if allow_default and part in ("default", "auto"):
            out.append(None)
            continue
        try:
            out.append(kind(part))
        except ValueError:
            raise UsageError(f"{part!r} is not a valid {kind.__name__} in {text!r}") from None
    return out


"""What a sweep file says: its records (models, targets, grid, measurement settings) and the
parser that checks the whole file before anything runs; every error is one line naming the file
and the key (``sweep.toml: grid.batch: expected a list of integers >= 1``)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ortkit.base import UsageError
from ortkit.profiler import MAX_AXIS, thread_limit

__all__ = ["SweepFile", "ModelEntry", "TargetEntry", "Grid", "SweepFileError", "load_sweep", "parse_sweep", "PRECISIONS",
           "BUDGET_KEYS", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
# grid precision name -> (exporter argument, precision recorded in the file's metadata)
PRECISIONS = {"fp32": None, "fp16": "fp16", "int8": "int8-dynamic", "int8-dynamic": "int8-dynamic", "int8-static": "int8-static"}
BUDGET_KEYS = ("warmup_runs", "warmup_time_s", "min_runs", "max_runs", "max_time_s", "target_rel_ci", "concurrency_time_s", "processes",
               "rounds", "max_rounds")


class SweepFileError(UsageError):
    """A sweep file that cannot be run as written; the message names the file and the key."""


@dataclass(frozen=True)
class ModelEntry:
    """One ``[[models]]`` entry: exactly one of ``zoo``, ``checkpoint`` or ``onnx``."""

    kind: str  # "zoo" | "checkpoint" | "onnx"
    value: str
    name: str
    overrides: tuple[tuple[str, Any], ...] = ()
    task: str | None = None


@dataclass(frozen=True)
class TargetEntry:
    """One ``[[targets]]`` entry: an EP spec, where it runs (``python``, a ``target`` name, or a
    ``node`` kind of a Ray cluster for `ortkit sweep --ray`) and provider options."""

    ep: str
    python: str | None = None
    target: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    node: str | None = None

    @property
    def label(self) -> str:
        return self.node or self.target or ("local" if self.python is None else Path(self.python).parent.parent.name or self.python)


@dataclass(frozen=True)
class Grid:
    batch: tuple[int, ...] = (1,)
    time: tuple[int, ...] = (64,)
    threads: tuple[int | None, ...] = (None,)
    precision: tuple[str, ...] = ("fp32",)
    chunk: tuple[int, ...] = ()
    concurrency: tuple[int, ...] = (1,)
    baseline: tuple[str, ...] = ()
    baseline_time: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SweepFile:
    path: Path
    models: tuple[ModelEntry, ...]
    targets: tuple[TargetEntry, ...]
    grid: Grid
    budget: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 600.0
    op_profile: bool = False
    db: Path | None = None
    report: Path | None = None


# -- parsing -------------------------------------------------------------------------------------


def load_sweep(path: str | os.PathLike[str]) -> SweepFile:
    """Read and validate a sweep file.

    Raises:
        SweepFileError: the file is missing, not TOML, or a key is missing, unknown or invalid.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepFileError(f"sweep file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SweepFileError(f"cannot read sweep file {file}: {error}") from None
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepFileError(f"{file.name}: not valid TOML: {error}") from None
    return parse_sweep(data, file)


def parse_sweep(data: dict[str, Any], path: Path) -> SweepFile:
    """Validate parsed TOML (see `load_sweep`); relative paths are relative to ``path``'s folder."""
    where = path.name
    base = path.parent

    def fail(key: str, message: str) -> SweepFileError:
        return SweepFileError(f"{where}: {key}: {message}")

    _unknown(data, {"version", "db", "report", "models", "targets", "grid", "measure"}, "", fail)
    version = data.get("version", SCHEMA_VERSION)
    if not isinstance(version, int) or version < 1:
        raise fail("version", f"expected a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise fail("version", f"this file is sweep format {version}; this ortkit reads up to {SCHEMA_VERSION}: upgrade ortkit")
    models = _parse_models(data.get("models"), base, fail)
    targets = _parse_targets(data.get("targets", [{"ep": "cpu"}]), base, fail)
    grid = _parse_grid(data.get("grid", {}), fail)
    budget, timeout, op_profile = _parse_measure(data.get("measure", {}), fail)
    db = data.get("db")
    report = data.get("report")
    return SweepFile(
        path=path, models=models, targets=targets, grid=grid, budget=budget, timeout_s=timeout,
        op_profile=op_profile, db=None if db is None else base / _string(db, "db", fail),
        report=None if report is None else base / _string(report, "report", fail),
    )


_Fail = Callable[[str, str], "SweepFileError"]


def _parse_models(raw_models: Any, base: Path, fail: _Fail) -> tuple[ModelEntry, ...]:
    if not isinstance(raw_models, list) or not raw_models:
        raise fail("models", "expected at least one [[models]] entry (zoo = \"lstm\", checkpoint = \"DIR\" or onnx = \"FILE\")")
    models = [_parse_model(item, f"models[{index}]", base, fail) for index, item in enumerate(raw_models)]
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise fail("models", f"two entries are named {dup!r}; give one of them name = \"...\"")
    return tuple(models)


def _parse_model(item: Any, key: str, base: Path, fail: _Fail) -> ModelEntry:
    if not isinstance(item, dict):
        raise fail(key, "expected a table")
    _unknown(item, {"zoo", "checkpoint", "onnx", "name", "overrides", "task"}, key, fail)
    kinds = [k for k in ("zoo", "checkpoint", "onnx") if k in item]
    if len(kinds) != 1:
        raise fail(key, "give exactly one of zoo, checkpoint or onnx")
    kind = kinds[0]
    value = _string(item[kind], f"{key}.{kind}", fail)
    if kind == "zoo":
        _check_zoo_name(value, f"{key}.zoo", fail)
    else:
        resolved = (base / value).resolve()
        exported = resolved / "model.onnx"
        if kind == "onnx" and resolved.is_dir() and exported.is_file():
            # An export folder, as every command takes; it names the model, as in `profile DIR`.
            item = {"name": resolved.name, **item}
            resolved = exported
        if kind == "onnx" and not resolved.is_file():
            raise fail(f"{key}.onnx", f"file not found: {resolved} (give an .onnx file or an export folder holding model.onnx)")
        if kind == "checkpoint" and not (resolved / "manifest.json").is_file():
            raise fail(f"{key}.checkpoint", f"not an ortkit checkpoint folder (no manifest.json): {resolved}")
        value = str(resolved)
    overrides = item.get("overrides", {})
    if not isinstance(overrides, dict):
        raise fail(f"{key}.overrides", "expected a table of hyperparameters, e.g. { hidden_size = 64 }")
    if overrides and kind == "onnx":
        raise fail(f"{key}.overrides", "overrides apply to zoo models only, not to an ONNX file")
    name = item.get("name") or (value if kind == "zoo" else Path(value).stem if kind == "onnx" else Path(value).name)
    name = _string(name, f"{key}.name", fail)
    task = item.get("task")
    if task is not None:
        task = _string(task, f"{key}.task", fail)
    return ModelEntry(kind, value, name, tuple(sorted(overrides.items())), task)


def _parse_targets(raw_targets: Any, base: Path, fail: _Fail) -> tuple[TargetEntry, ...]:
    if not isinstance(raw_targets, list) or not raw_targets:
        raise fail("targets", "expected at least one [[targets]] entry (ep = \"cpu\")")
    return tuple(_parse_target(item, f"targets[{index}]", base, fail) for index, item in enumerate(raw_targets))


def _parse_target(item: Any, key: str, base: Path, fail: _Fail) -> TargetEntry:
    if not isinstance(item, dict):
        raise fail(key, "expected a table")
    _unknown(item, {"ep", "python", "target", "options", "node"}, key, fail)
    if "ep" not in item:
        raise fail(f"{key}.ep", "missing (e.g. ep = \"cpu\", \"openvino\", \"cuda:0\")")
    ep = _string(item["ep"], f"{key}.ep", fail)
    python = item.get("python")
    target = item.get("target")
    if python is not None and target is not None:
        raise fail(key, "give python or target, not both")
    node = item.get("node")
    if node is not None:
        node = _string(node, f"{key}.node", fail)
        if python is not None or target is not None:
            raise fail(key, "a node kind runs on the cluster's nodes: give node without python or target")
    if python is not None:
        python = str((base / _string(python, f"{key}.python", fail)).expanduser())
        if not Path(python).exists():
            raise fail(f"{key}.python", f"interpreter not found: {python}")
    if target is not None:
        target = _string(target, f"{key}.target", fail)
    options = item.get("options", {})
    if not isinstance(options, dict):
        raise fail(f"{key}.options", "expected a table of provider options, e.g. { device_type = \"CPU\" }")
    return TargetEntry(ep, python, target, tuple(sorted((str(k), str(v)) for k, v in options.items())), node)


def _parse_grid(grid_data: Any, fail: _Fail) -> Grid:
    if not isinstance(grid_data, dict):
        raise fail("grid", "expected a table")
    _unknown(grid_data, {"batch", "time", "threads", "precision", "chunk", "concurrency", "baseline", "baseline_time"}, "grid", fail)
    precision = tuple(_strings(grid_data.get("precision", ["fp32"]), "grid.precision", fail))
    if not precision:
        raise fail("grid.precision", "expected at least one of " + ", ".join(PRECISIONS))
    for p in precision:
        if p not in PRECISIONS:
            raise fail("grid.precision", f"unknown precision {p!r}; use {', '.join(PRECISIONS)}")
    baseline = tuple(_strings(grid_data.get("baseline", []), "grid.baseline", fail))
    for b in baseline:
        if b not in ("torch", "torch-eager", "torch-compile"):
            raise fail("grid.baseline", f"unknown baseline {b!r}; use torch (eager) or torch-compile")
    return Grid(
        batch=tuple(_ints(grid_data.get("batch", [1]), "grid.batch", fail)),
        time=tuple(_ints(grid_data.get("time", [64]), "grid.time", fail)),
        threads=tuple(_threads(grid_data.get("threads", ["default"]), fail)),
        precision=precision,
        chunk=tuple(_ints(grid_data.get("chunk", []), "grid.chunk", fail, allow_empty=True)),
        concurrency=tuple(_ints(grid_data.get("concurrency", [1]), "grid.concurrency", fail)),
        baseline=baseline,
        baseline_time=tuple(_ints(grid_data["baseline_time"], "grid.baseline_time", fail)) if "baseline_time" in grid_data else None,
    )


def _parse_measure(measure: Any, fail: _Fail) -> tuple[dict[str, Any], float, bool]:
    if not isinstance(measure, dict):
        raise fail("measure", "expected a table")
    _unknown(measure, {*BUDGET_KEYS, "timeout_s", "op_profile"}, "measure", fail)
    budget = {}
    for name in BUDGET_KEYS:
        if name in measure:
            value = measure[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise fail(f"measure.{name}", f"expected a non-negative number, got {value!r}")
            budget[name] = value
    try:
        from ortkit.profiler import Budget

        Budget.from_dict(budget)
    except UsageError as error:
        raise fail("measure", str(error).removeprefix("budget: ")) from None
    timeout = measure.get("timeout_s", 600.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise fail("measure.timeout_s", f"expected a positive number of seconds, got {timeout!r}")
    op_profile = measure.get("op_profile", False)
    if not isinstance(op_profile, bool):
        raise fail("measure.op_profile", f"expected true or false, got {op_profile!r}")
    return budget, float(timeout), op_profile


def _unknown(table: dict[str, Any], known: set[str], prefix: str, fail: Callable[[str, str], SweepFileError]) -> None:
    for key in table:
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
            raise fail(f"{prefix}.{key}" if prefix else key, f"unknown key{hint}")


def _string(value: Any, key: str, fail: Callable[[str, str], SweepFileError]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(key, f"expected a non-empty string, got {value!r}")
    return value


def _strings(value: Any, key: str, fail: Callable[[str, str], SweepFileError]) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(key, f"expected a list of strings, got {value!r}")
    return value


def _ints(value: Any, key: str, fail: Callable[[str, str], SweepFileError], allow_empty: bool = False) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (not isinstance(value, list) or (not value and not allow_empty)
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise fail(key, f"expected a list of integers >= 1, got {value!r}")
    if any(v > MAX_AXIS for v in value):
        raise fail(key, f"{max(value)} is too large (at most {MAX_AXIS})")
    return sorted(set(value))


def _threads(value: Any, fail: Callable[[str, str], SweepFileError]) -> list[int | None]:
    if not isinstance(value, list):
        value = [value]
    out: list[int | None] = []
    for v in value:
        if v == "default":
            out.append(None)
        elif isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_AXIS:
            out.append(v)
        else:
            raise fail("grid.threads", f"expected integers >= 1 or \"default\", got {v!r}")
    if not out:
        raise fail("grid.threads", "expected at least one value")
    limit = thread_limit()
    if any(v is not None and v > limit for v in out):
        raise fail("grid.threads", f"{max(v for v in out if v is not None)} is more than {limit} (4 per usable core on this machine)")
    return list(dict.fromkeys(out))


def _check_zoo_name(name: str, key: str, fail: Callable[[str, str], SweepFileError]) -> None:
    try:
        from ortkit.models import list_models
    except ImportError:  # pragma: no cover - models import no torch at import time
        return
    known = list_models()
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, known, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"zoo models: {', '.join(known)}"
        raise fail(key, f"unknown zoo model {name!r}; {hint}")

"""Profiling targets: other Python environments that hold another onnxruntime distribution.

The onnxruntime distributions (`onnxruntime`, `onnxruntime-gpu`, `onnxruntime-openvino`) all provide
the module `onnxruntime` and break each other when installed together, so an EP that the current
environment lacks is measured by running the profiler's worker under another interpreter. A
*target* names such an interpreter and the EP it is for; `resolve(name).python` is what the
profiler's ``--python`` option takes.

Targets are stored as JSON in ``$ORTKIT_HOME/targets.json`` (default ``~/.config/ortkit``), with a
schema version. Every fact about a target (its onnxruntime distribution, version, EPs) comes from
*probing* it: running its interpreter on a small script, never importing anything of it here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ortkit.base import UsageError
from ortkit.profiler._isolation import TargetError
from ortkit.profiler._targetprobe import Probe, _short, probe
from ortkit.profiler._targetvenv import KINDS, build_venv, origin_of, ortkit_origin, source_tree

__all__ = [
    "Target",
    "Probe",
    "TargetError",
    "SCHEMA_VERSION",
    "KINDS",
    "LOCAL",
    "ortkit_home",
    "targets_file",
    "probe",
    "add",
    "create",
    "list_targets",
    "list",
    "remove",
    "resolve",
]

SCHEMA_VERSION = 1

#: The name that always resolves to the interpreter running ortkit; it is never stored.
LOCAL = "local"

_DEFAULT_EP_ORDER = ("openvino", "cuda", "cpu")  # tensorrt is never a default: it needs extra libraries
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

@dataclass(frozen=True)
class Target:
    """A named Python environment the profiler can run its worker in, and the EP it is for.

    Attributes:
        name: the name given to `add`/`create` (``ortkit profile --target NAME``).
        python: absolute path of the interpreter.
        default_ep: the EP spec measured when none is asked for (``openvino``, ``cuda``, ``cpu``).
        distribution: the onnxruntime distribution found when the target was last probed.
        onnxruntime: its version.
        providers: onnxruntime's available EP names there.
        python_version: the interpreter's version.
        ortkit: the ortkit version installed there.
        managed: True when ortkit created the environment (``remove(..., delete=True)`` may delete it).
        created_at: seconds since the epoch when it was added.
    """

    name: str
    python: str
    default_ep: str
    distribution: str | None
    onnxruntime: str | None
    providers: tuple[str, ...] = ()
    python_version: str | None = None
    ortkit: str | None = None
    managed: bool = False
    created_at: float = 0.0
    extra: tuple[tuple[str, str], ...] = field(default=())

    @property
    def eps(self) -> tuple[str, ...]:
        return tuple(_short(name) for name in self.providers)

    @property
    def environment(self) -> Path:
        """The environment's root folder (the venv holding ``bin/python``)."""
        return Path(self.python).parent.parent

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["providers"] = [*self.providers]
        data["extra"] = [[*item] for item in self.extra]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        known = set(cls.__dataclass_fields__)
        values = {key: value for key, value in data.items() if key in known}
        values["providers"] = tuple(values.get("providers") or ())
        values["extra"] = tuple(tuple(item) for item in values.get("extra") or ())
        return cls(**values)


# ---------------------------------------------------------------------------------------- storage


def ortkit_home() -> Path:
    """Where ortkit keeps its per-user state: ``$ORTKIT_HOME``, else ``~/.config/ortkit``."""
    home = os.environ.get("ORTKIT_HOME")
    return Path(home).expanduser() if home else Path.home() / ".config" / "ortkit"


def targets_file(home: Path | None = None) -> Path:
    return (home or ortkit_home()) / "targets.json"


def _load(home: Path | None) -> dict[str, Target]:
    path = targets_file(home)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise TargetError(f"cannot read the target list {path}: {error}; fix or delete the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("schema"), int):
        raise TargetError(f"{path} is not an ortkit target list (no 'schema' field); fix or delete the file")
    schema = data["schema"]
    if schema > SCHEMA_VERSION:
        raise TargetError(
            f"{path} has schema {schema}, newer than this ortkit understands ({SCHEMA_VERSION}); upgrade ortkit"
        )
    # Schema 1 is the first one; older versions are migrated here as they appear.
    entries = data.get("targets") or {}
    return {name: Target.from_dict({**entry, "name": name}) for name, entry in entries.items()}


def _save(targets: dict[str, Target], home: Path | None) -> None:
    path = targets_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "schema": SCHEMA_VERSION,
        "targets": {name: {k: v for k, v in t.to_dict().items() if k != "name"} for name, t in sorted(targets.items())},
    }
    # Write then rename, so that a crash never leaves a half-written list behind.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".targets.", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------- probing


def _default_ep(found: Probe, asked: str | None, python: Path) -> str:
    if asked is not None:
        if asked not in found.eps:
            raise TargetError(
                f"EP {asked!r} is not available in {python} ({found.distribution} {found.onnxruntime}); "
                f"it offers: {', '.join(found.eps) or 'none'}"
            )
        return asked
    return next(ep for ep in _DEFAULT_EP_ORDER if ep in found.eps or ep == "cpu")


def _check_name(name: str) -> None:
    if name == LOCAL:
        raise UsageError(f"'{LOCAL}' always names the interpreter running ortkit; choose another target name")
    if not _NAME.match(name):
        raise UsageError(
            f"invalid target name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )


def _target_from_probe(name: str, python: Path, found: Probe, default_ep: str, managed: bool) -> Target:
    return Target(
        name=name,
        python=str(python),
        default_ep=default_ep,
        distribution=found.distribution,
        onnxruntime=found.onnxruntime,
        providers=found.providers,
        python_version=found.python_version,
        ortkit=found.ortkit,
        managed=managed,
        created_at=round(time.time(), 3),
    )


# ---------------------------------------------------------------------------------------- public API


def add(
    name: str,
    python: str | os.PathLike[str],
    *,
    default_ep: str | None = None,
    replace: bool = False,
    home: Path | None = None,
    _managed: bool = False,
) -> Target:
    """Register an existing environment as a profiling target.

    The interpreter is probed: it must import onnxruntime, numpy, onnx and ortkit (the profiler's
    worker runs there). Its default EP is the first of openvino, cuda, cpu that it offers, unless
    ``default_ep`` names one.

    Args:
        name: the target's name (letters, digits, ``._-``).
        python: the interpreter's path; kept as given (made absolute, symlinks not resolved, since
            a venv's ``bin/python`` is a symlink to the base interpreter).
        default_ep: the EP spec to measure by default; must be available there.
        replace: overwrite an existing target of that name.
        home: the state folder (default `ortkit_home()`).

    Returns:
        The stored target.

    Raises:
        TargetError: the interpreter cannot run ortkit's worker, or the EP is not available.
        UsageError: invalid name, or the name exists and ``replace`` is false.
    """
    _check_name(name)
    path = Path(os.path.abspath(Path(python).expanduser()))
    targets = _load(home)
    if name in targets and not replace:
        raise UsageError(f"target {name!r} exists ({targets[name].python}); remove it first or pass replace=True")
    found = probe(path)
    if found.problems:
        extra = {"onnxruntime-openvino": "openvino", "onnxruntime-gpu": "gpu"}.get(found.distribution or "", "cpu")
        raise TargetError(
            f"{path} cannot be a target: {'; '.join(found.problems)} "
            f"(fix: {path} -m pip install '{_source_hint()}[{extra}]' (or [openvino] / [gpu]), "
            "or let ortkit build one: `ortkit target create openvino`)"
        )
    target = _target_from_probe(name, path, found, _default_ep(found, default_ep, path), _managed)
    targets[name] = target
    _save(targets, home)
    return target


def create(
    kind: str,
    path: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    source: str | os.PathLike[str] | None = None,
    python: str | os.PathLike[str] | None = None,
    replace: bool = False,
    home: Path | None = None,
    quiet: bool = True,
) -> Target:
    """Create a virtual environment with one onnxruntime distribution and register it as a target.

    Installs, with ONE networked ``pip install``, the distribution for ``kind`` (``openvino``:
    onnxruntime-openvino, ``cpu``: onnxruntime, ``gpu``: onnxruntime-gpu and nvidia-ml-py) plus the
    worker's needs (numpy, onnx, click, rich, psutil, safetensors); then the same ortkit as this
    one, with ``--no-deps``: an editable install from the source tree when this one is editable
    (the target runs the current code), else the wheel or folder this one was installed from
    (pip's record of it), else the same version from the package index.
    torch is never installed. The openvino environment is about 450 MB.

    Args:
        kind: ``openvino``, ``cpu`` or ``gpu``.
        path: the environment's folder (default ``$ORTKIT_HOME/envs/<name>``); must not exist or
            be empty.
        name: the target name (default: ``kind``).
        source: an ortkit wheel or source tree to install instead (``--source`` of the CLI).
        python: the base interpreter for ``python -m venv`` (default: this one's base).
        replace: overwrite an existing target of that name (the old environment is not deleted).
        home: the state folder (default `ortkit_home()`).
        quiet: pass ``-q`` to pip.

    Returns:
        The stored target.

    Raises:
        UsageError: unknown kind, or the folder exists and is not empty.
        TargetError: venv creation or pip failed (pip's last error line is in the message).
    """
    if kind not in KINDS:
        raise UsageError(f"unknown target kind {kind!r}: choose one of {', '.join(sorted(KINDS))}")
    name = name or kind
    _check_name(name)
    targets = _load(home)
    if name in targets and not replace:
        raise UsageError(f"target {name!r} exists ({targets[name].python}); remove it first or pass --replace")
    env_dir = Path(os.path.abspath(Path(path).expanduser() if path else (home or ortkit_home()) / "envs" / name))
    if env_dir.exists() and (not env_dir.is_dir() or any(env_dir.iterdir())):
        raise UsageError(f"{env_dir} exists and is not empty: choose another --path or delete it")
    origin = origin_of(source) if source else ortkit_origin()
    env_python = build_venv(kind, env_dir, origin, python, quiet=quiet)
    expected = {"openvino": "openvino", "gpu": "cuda", "cpu": "cpu"}[kind]
    found = probe(env_python)
    if expected != "cuda" and expected not in found.eps:
        # CUDA is legitimately absent on a machine without a GPU; the others must be there.
        raise TargetError(f"the new environment {env_dir} does not offer the {expected} EP (it has {', '.join(found.eps)})")
    return add(name, env_python, default_ep=expected if expected in found.eps else None, replace=True, home=home, _managed=True)


def list_targets(home: Path | None = None) -> list[Target]:
    """The stored targets, sorted by name (the implicit `LOCAL` target is not among them)."""
    return [target for _, target in sorted(_load(home).items())]


def remove(name: str, *, delete: bool = False, home: Path | None = None) -> Target:
    """Forget a target; with ``delete`` also delete its environment if ortkit created it.

    Raises:
        TargetError: no target of that name, or ``delete`` on an environment ortkit did not create.
    """
    targets = _load(home)
    if name not in targets:
        raise TargetError(_unknown(name, targets))
    target = targets[name]
    if delete and not target.managed:
        raise TargetError(f"target {name!r} was added, not created, by ortkit: delete {target.environment} yourself")
    del targets[name]
    _save(targets, home)
    if delete:
        shutil.rmtree(target.environment, ignore_errors=True)
    return target


def resolve(name: str, *, home: Path | None = None, check: bool = True) -> Target:
    """The target called ``name``; `LOCAL` (``"local"``) is the interpreter running ortkit.

    Args:
        name: a stored target's name, or ``"local"``.
        home: the state folder (default `ortkit_home()`).
        check: verify that the stored interpreter still exists.

    Raises:
        TargetError: no such target, or its interpreter is gone.
    """
    if name == LOCAL:
        from ortkit.profiler._environment import onnxruntime_distribution

        distribution, version = onnxruntime_distribution()
        try:
            import onnxruntime

            providers = tuple(onnxruntime.get_available_providers())
        except ImportError:
            providers = ()
        found_eps = [_short(p) for p in providers]
        from ortkit.base import ortkit_version

        return Target(
            name=LOCAL, python=sys.executable,
            default_ep=next(ep for ep in _DEFAULT_EP_ORDER if ep in found_eps or ep == "cpu"),
            distribution=distribution, onnxruntime=version, providers=providers,
            python_version=sys.version.split()[0], ortkit=ortkit_version(),
        )
    targets = _load(home)
    if name not in targets:
        raise TargetError(_unknown(name, targets))
    target = targets[name]
    if check and not Path(target.python).exists():
        raise TargetError(
            f"target {name!r}: its interpreter {target.python} no longer exists; "
            f"re-create it or `ortkit target remove {name}`"
        )
    return target


def _source_hint() -> str:
    try:
        tree = source_tree()
    except Exception:  # noqa: BLE001 - only a hint in a message
        return "ortkit"
    return str(tree) if (tree / "pyproject.toml").is_file() else "ortkit"


def _unknown(name: str, targets: dict[str, Target]) -> str:
    known = ", ".join(sorted(targets)) or "none stored"
    return (
        f"no target named {name!r} (known: {known}; '{LOCAL}' is this interpreter); "
        f"add one with `ortkit target add {name} --python PATH` or `ortkit target create openvino`"
    )


# The brief's short names: `ortkit.profiler.targets.list()` reads like the CLI's `ortkit target list`.
list = list_targets  # noqa: A001 - deliberately shadows the builtin inside this module's namespace

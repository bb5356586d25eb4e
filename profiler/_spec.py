"""What one measurement is: a frozen, hashable configuration and the budget it is measured under.

`ProfileSpec` is the identity of a configuration. Together with the environment key it forms the
results store's primary key, so a repeated sweep finds what it already measured and resumes.
"""

from __future__ import annotations

import hashlib
import os
import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ortkit.base import UsageError
from ortkit.base import file_sha256

__all__ = ["ProfileSpec", "Budget", "RUNNERS", "file_sha256"]

RUNNERS = ("ort", "torch-eager", "torch-compile")
# Largest batch, time, thread, chunk or client count a spec takes (SQLite stores 64-bit integers;
# anything near this is a typo, and a too-large but representable shape fails in its worker).
MAX_AXIS = 2**31 - 1
# Spec fields that change what is recorded, not what is measured: they are left out of the identity.
NOT_IDENTITY = {"op_profile": False}


def _freeze(value: Any) -> Any:
    """JSON values made hashable (lists -> tuples), so a spec with list hyperparameters hashes."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value


@dataclass(frozen=True)
class Budget:
    """How long and how often to repeat one configuration.

    Measurement stops when the 95% confidence interval of the median is within
    ``target_rel_ci`` of the median (after at least ``min_runs``), or when ``max_runs`` runs or
    ``max_time_s`` seconds of measuring are spent, whichever comes first. The budget is stored with
    each result but is not part of its identity: a longer budget measures the same thing better.

    ``processes``: how many fresh worker processes measure the configuration, each with this
    budget; their samples are pooled. A process brings its own memory layout, thread placement
    and cache state, which moves a median by several percent from one process to the next on a
    shared machine; pooling a few (as pyperf does) makes the median reproducible.

    ``rounds`` / ``max_rounds`` (interleaved mode, the default of sweeps and the study): every
    configuration gets a slice of ``max_time_s / rounds`` seconds in each round; after ``rounds``
    rounds, a block stops once every configuration's median (from its per-round medians) is known
    within ``target_rel_ci``, else at ``max_rounds``. There ``processes`` workers per configuration serve
    the rounds in turn (round n: worker n mod processes).
    """

    warmup_runs: int = 3
    warmup_time_s: float = 0.05
    min_runs: int = 10
    max_runs: int = 10_000
    max_time_s: float = 2.0
    target_rel_ci: float = 0.01
    concurrency_time_s: float = 1.0
    processes: int = 1
    rounds: int = 6
    max_rounds: int = 16

    def __post_init__(self) -> None:
        for name in ("warmup_runs", "min_runs", "max_runs", "processes", "rounds", "max_rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"budget: {name} must be an integer, got {value!r}")
        for name in ("warmup_time_s", "max_time_s", "target_rel_ci", "concurrency_time_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise UsageError(f"budget: {name} must be a finite number >= 0, got {value!r}")
        if not 1 <= self.processes <= 100:
            raise UsageError(f"budget: processes must be between 1 and 100, got {self.processes}")
        if not 1 <= self.rounds <= self.max_rounds <= 1000:
            raise UsageError(f"budget: need 1 <= rounds <= max_rounds <= 1000, got {self.rounds} and {self.max_rounds}")
        if self.min_runs < 1 or self.max_runs < self.min_runs:
            raise UsageError(f"budget: need 1 <= min_runs <= max_runs, got {self.min_runs} and {self.max_runs}")
        if self.max_time_s <= 0 or self.target_rel_ci <= 0 or self.concurrency_time_s <= 0 or self.warmup_runs < 0:
            raise UsageError("budget: max_time_s, target_rel_ci and concurrency_time_s must be > 0 and warmup_runs >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Budget:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ProfileSpec:
    """One configuration to measure.

    Attributes:
        model: path of the .onnx file (for torch runners, the export it is compared with).
        model_sha256: hash of the model file, so a changed file is a different configuration.
        model_label: a short name for tables (the zoo name or the file stem).
        ep: execution provider spec as `ortkit.runtime.Runtime` takes it (``"cpu"``,
            ``"openvino:CPU"``, ``"cuda:0"``...); for torch runners ``"cpu"`` or ``"cuda"``.
        ep_options: provider options as sorted (key, value) string pairs.
        ep_library: plugin EP libraries to register in the worker, sorted (name, path) pairs.
        batch, time: the input shape; ``time`` is None for models without a time axis.
        threads: intra-op threads (None: the runtime's default).
        precision: fp32, fp16, int8-dynamic or int8-static (from the model's metadata).
        chunk: streaming chunk length in time steps (None: offline, the whole sequence at once).
        concurrency: client threads running on one session at the same time.
        runner: ``"ort"``, ``"torch-eager"`` or ``"torch-compile"``.
        zoo_name: the zoo model the file was exported from (needed by the torch runners).
        zoo_overrides: hyperparameter overrides for `ortkit.models.create_model`.
        op_profile: also run onnxruntime's profiler and record per-op-type time shares (not part
            of the identity: see `identity`).
        family: the model's family (rnn, cnn, hybrid...) from its ``ortkit.family`` metadata; a
            fact of the file, so not part of the identity (its sha256 is).
        session: session settings beyond ``threads`` and ``optimization`` that differ from the
            defaults, as `ortkit.runtime.SessionSettings.extra()` gives them (a tuned session).
        baseline_source: for the torch runners of a user model, the PyTorch factory to measure
            (``/abs/file.py:factory`` or ``pkg.module:factory``): from the export's record or
            ``--baseline-source``. Part of the identity when set.
    """

    model: str
    model_sha256: str
    model_label: str
    ep: str = "cpu"
    ep_options: tuple[tuple[str, str], ...] = ()
    ep_library: tuple[tuple[str, str], ...] = ()
    batch: int = 1
    time: int | None = None
    threads: int | None = None
    precision: str = "fp32"
    chunk: int | None = None
    concurrency: int = 1
    runner: str = "ort"
    zoo_name: str | None = None
    zoo_overrides: tuple[tuple[str, Any], ...] = ()
    op_profile: bool = False
    optimization: str = "all"
    tags: tuple[tuple[str, str], ...] = field(default=())
    family: str | None = None
    baseline_source: str | None = None
    session: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.model, str) and self.model and not os.path.isabs(self.model):
            # Workers start in their own temporary folder: a path relative to the caller's
            # working directory would name nothing there (the identity holds the hash, not the path).
            object.__setattr__(self, "model", os.path.abspath(self.model))
        if self.runner not in RUNNERS:
            raise UsageError(f"unknown runner {self.runner!r}; expected one of {', '.join(RUNNERS)}")
        for name in ("model", "model_sha256", "model_label", "ep", "precision", "optimization"):
            if not isinstance(getattr(self, name), str):
                raise UsageError(f"{name} must be a string, got {getattr(self, name)!r}")
        for name in ("family", "baseline_source"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise UsageError(f"{name} must be a string or None, got {getattr(self, name)!r}")
        for name in ("ep_options", "ep_library", "zoo_overrides", "tags", "session"):
            if not all(isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) for item in getattr(self, name)):
                raise UsageError(f"{name} must be (name, value) pairs, got {getattr(self, name)!r}")
        for name in ("batch", "time", "threads", "chunk", "concurrency"):
            value = getattr(self, name)
            if value is None and name in ("time", "threads", "chunk"):
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{name} must be an integer, got {value!r}")
            if value > MAX_AXIS:
                raise UsageError(f"{name} {value} is too large (at most {MAX_AXIS})")
        if self.batch < 1:
            raise UsageError(f"batch must be >= 1, got {self.batch}")
        if self.time is not None and self.time < 1:
            raise UsageError(f"time must be >= 1, got {self.time}")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"threads must be >= 1, got {self.threads}")
        if self.concurrency < 1:
            raise UsageError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.chunk is not None and self.chunk < 1:
            raise UsageError(f"streaming chunk must be >= 1, got {self.chunk}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("ep_options", "ep_library", "zoo_overrides", "tags", "session"):
            data[name] = [list(item) for item in data[name]]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProfileSpec:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("ep_options", "ep_library", "tags", "session"):
            values[name] = tuple(tuple(item) for item in values.get(name) or ())
        values["zoo_overrides"] = tuple((str(k), _freeze(v)) for k, v in values.get("zoo_overrides") or ())
        return cls(**values)

    def identity(self) -> dict[str, Any]:
        """What makes two specs the same configuration: everything but the model's path (its
        sha256 stands for it, so moving a file does not make a measured configuration new) and
        ``op_profile`` (onnxruntime's profiler runs on a second session after the timing, so the
        latency is the same with or without it: one configuration, one latency row)."""
        identity = self.to_dict()
        identity.pop("model")
        # Fixed values rather than removal keep the hashes of existing databases unchanged.
        identity.update(NOT_IDENTITY)
        # Fields added later leave the identity when unset, so older databases keep their keys.
        identity.pop("family", None)
        if identity.get("baseline_source") is None:
            identity.pop("baseline_source", None)
        if not identity.get("session"):
            identity.pop("session", None)
        return identity

    @property
    def spec_hash(self) -> str:
        """A hash of `identity()`."""
        identity = self.identity()
        blob = json.dumps(identity, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def key(self, environment_key: str) -> str:
        """The store's primary key: this configuration measured in that environment."""
        return hashlib.sha256(f"{self.spec_hash}:{environment_key}".encode()).hexdigest()[:24]

    @property
    def timesteps(self) -> int | None:
        """Time steps processed by one run (batch x time), for sequence models."""
        return None if self.time is None else self.batch * self.time

    def describe(self) -> str:
        """A one-line label such as ``lstm ort/cpu b=8 t=128 th=2``."""
        parts = [self.model_label, f"{self.runner}/{self.ep}", f"b={self.batch}"]
        if self.time is not None:
            parts.append(f"t={self.time}")
        if self.chunk is not None:
            parts.append(f"chunk={self.chunk}")
        parts.append(f"th={self.threads if self.threads is not None else 'default'}")
        if self.concurrency > 1:
            parts.append(f"conc={self.concurrency}")
        parts += [f"{name}={value}" for name, value in self.session]
        return " ".join(parts)

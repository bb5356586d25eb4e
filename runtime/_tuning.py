"""What `ortkit tune` finds and `Runtime(model, tuned=PATH)` loads: the session settings it
searches (`SessionSettings`) and the versioned profile file it writes (`TunedProfile`).

Torch-free, like the rest of the runtime: a profile tuned at home is loaded on a target machine
that has only numpy, onnx and onnxruntime. A profile is only valid for the model bytes and the
machine it was measured on, so both are recorded and checked (`TunedProfile.check`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import onnxruntime as ort

from ortkit.base import OrtkitError, cpu_model, file_sha256, ortkit_version
from ortkit.runtime._limits import usable_cores

__all__ = [
    "EXECUTION_MODES",
    "OPTIMIZATION_LEVELS",
    "PROFILE_FORMAT",
    "PROFILE_VERSION",
    "SessionSettings",
    "SettingsError",
    "TunedChoice",
    "TunedGain",
    "TunedProfile",
    "TunedProfileError",
    "TunedProfileMismatch",
    "TunedTarget",
    "load_tuned_profile",
]

OPTIMIZATION_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
EXECUTION_MODES = {
    "sequential": ort.ExecutionMode.ORT_SEQUENTIAL,
    "parallel": ort.ExecutionMode.ORT_PARALLEL,
}
PROFILE_FORMAT = "ortkit-tuned-profile"
PROFILE_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8-static")
# A profile is a few kB; anything far larger is not one (and is not parsed into memory).
_MAX_PROFILE_BYTES = 1 << 20
_SPINNING = "session.intra_op.allow_spinning"
_INTER_SPINNING = "session.inter_op.allow_spinning"


class SettingsError(OrtkitError, ValueError):
    """A combination of session settings that is invalid or meaningless (refused before any
    session is created or measured)."""


class TunedProfileError(OrtkitError):
    """A tuned profile file that cannot be read: not JSON, another format or version, damaged."""


class TunedProfileMismatch(OrtkitError):
    """A tuned profile that belongs to another model (hash) or another machine."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class SessionSettings:
    """The onnxruntime session options ortkit tunes; the defaults are ortkit's untuned session.

    ``threads``: intra-op threads (None: onnxruntime's choice, one per physical core).
    ``inter_op_threads``: threads that run independent nodes at once; only meaningful, and only
    accepted above 1, with ``execution_mode="parallel"``.
    ``spinning``: whether idle intra-op threads spin (lower latency, busier cores).
    ``cpu_arena`` / ``memory_pattern``: onnxruntime's CPU memory arena and its memory-pattern
    planning (they trade memory for allocation time).
    """

    threads: int | None = None
    inter_op_threads: int | None = None
    execution_mode: str = "sequential"
    optimization: str = "all"
    spinning: bool = True
    cpu_arena: bool = True
    memory_pattern: bool = True

    def __post_init__(self) -> None:
        for name in ("threads", "inter_op_threads"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise SettingsError(f"session setting {name} must be a positive integer or None, got {value!r}")
        if self.execution_mode not in EXECUTION_MODES:
            raise SettingsError(f"unknown execution_mode {self.execution_mode!r}; use one of {', '.join(EXECUTION_MODES)}")
        if self.optimization not in OPTIMIZATION_LEVELS:
            raise SettingsError(f"unknown optimization level {self.optimization!r}; use one of {', '.join(OPTIMIZATION_LEVELS)}")
        for name in ("spinning", "cpu_arena", "memory_pattern"):
            if not isinstance(getattr(self, name), bool):
                raise SettingsError(f"session setting {name} must be true or false, got {getattr(self, name)!r}")
        if self.execution_mode == "sequential" and self.inter_op_threads not in (None, 1):
            raise SettingsError(
                f"inter_op_threads={self.inter_op_threads} has no effect in sequential execution; "
                "set execution_mode='parallel' or leave inter_op_threads unset"
            )

    # ------------------------------------------------------------------ identity
    def extra(self) -> tuple[tuple[str, str], ...]:
        """The knobs besides ``threads`` and ``optimization`` that differ from the defaults, as
        sorted string pairs: what a profiled configuration adds to its identity (empty for an
        untuned session, so untuned configurations keep their old identity)."""
        default = SessionSettings()
        return tuple(
            (f.name, _text(getattr(self, f.name)))
            for f in sorted(fields(self), key=lambda f: f.name)
            if f.name not in ("threads", "optimization") and getattr(self, f.name) != getattr(default, f.name)
        )

    @classmethod
    def from_extra(cls, extra: tuple[tuple[str, str], ...] | list[Any], threads: int | None = None,
                   optimization: str = "all") -> SessionSettings:
        """Inverse of `extra`: settings from string pairs (as stored) plus threads and level."""
        values: dict[str, Any] = {"threads": threads, "optimization": optimization}
        for pair in extra:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise SettingsError(f"session setting pairs must be (name, value), got {pair!r}")
            values[str(pair[0])] = _parse(str(pair[0]), str(pair[1]))
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"unknown session setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    # ------------------------------------------------------------------ use
    def apply(self, options: ort.SessionOptions) -> None:
        """Set these settings on ``options`` (the caller sets logging and ortkit's own entries)."""
        options.graph_optimization_level = OPTIMIZATION_LEVELS[self.optimization]
        options.execution_mode = EXECUTION_MODES[self.execution_mode]
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        # One inter-op thread unless asked: ortkit's sessions run one model call at a time.
        options.inter_op_num_threads = self.inter_op_threads or 1
        options.enable_cpu_mem_arena = self.cpu_arena
        options.enable_mem_pattern = self.memory_pattern
        if not self.spinning:
            options.add_session_config_entry(_SPINNING, "0")
            options.add_session_config_entry(_INTER_SPINNING, "0")

    def describe(self) -> str:
        """One short line for tables: ``2 threads, parallel x2, no spinning``."""
        parts = [f"{self.threads} thread{'s' if self.threads != 1 else ''}" if self.threads else "default threads"]
        if self.execution_mode == "parallel":
            parts.append(f"parallel x{self.inter_op_threads or 1}")
        if self.optimization != "all":
            parts.append(f"optimization {self.optimization}")
        parts += [text for flag, text in ((self.spinning, "no spinning"), (self.cpu_arena, "no arena"),
                                           (self.memory_pattern, "no memory pattern")) if not flag]
        return ", ".join(parts)


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _parse(name: str, text: str) -> Any:
    if name in ("spinning", "cpu_arena", "memory_pattern"):
        if text not in ("true", "false"):
            raise SettingsError(f"session setting {name} must be true or false, got {text!r}")
        return text == "true"
    if name in ("threads", "inter_op_threads"):
        if text == "None":
            return None
        try:
            return int(text)
        except ValueError:
            raise SettingsError(f"session setting {name} must be an integer, got {text!r}") from None
    return text


@dataclass(frozen=True)
class TunedTarget:
    """The machine a profile was measured on: what must match for its numbers to hold."""

    cpu: str
    cores: int
    onnxruntime: str

    @classmethod
    def here(cls) -> TunedTarget:
        return cls(cpu=cpu_model(), cores=usable_cores(), onnxruntime=ort.__version__)

    def describe(self) -> str:
        return f"{self.cpu}, {self.cores} cores, onnxruntime {self.onnxruntime}"


@dataclass(frozen=True)
class TunedGain:
    """Tuned against default: the default's latency over the tuned one (above 1: tuning helped),
    from paired rounds in fresh processes, with its confidence interval."""

    ratio: float
    low: float
    high: float
    confidence: float = 0.95
    rounds: int = 0

    def __post_init__(self) -> None:
        values = (self.ratio, self.low, self.high)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values):
            raise TunedProfileError(f"a gain needs finite positive ratio and bounds, got {values}")
        if not self.low <= self.ratio <= self.high:
            raise TunedProfileError(f"a gain's interval [{self.low}, {self.high}] must contain its ratio {self.ratio}")

    def describe(self) -> str:
        return f"{self.ratio:.2f}x [{self.low:.2f}, {self.high:.2f}]"


@dataclass(frozen=True)
class TunedChoice:
    """What to run for one shape group: EP, its options, session settings and precision.

    ``shapes``: the (batch, time) pairs the choice was tuned on (time None: no time axis).
    ``model_file``: the file to run when another precision won (relative to the profile's
    folder, or absolute); None: the tuned model itself. ``model_sha256``: that file's hash.
    """

    shapes: tuple[tuple[int, int | None], ...]
    ep: str
    settings: SessionSettings
    model_sha256: str
    precision: str = "fp32"
    ep_options: tuple[tuple[str, str], ...] = ()
    model_file: str | None = None
    gain: TunedGain | None = None

    def __post_init__(self) -> None:
        if not self.shapes:
            raise TunedProfileError("a tuned choice needs at least one (batch, time) shape")
        for batch, time in self.shapes:
            if not _is_int(batch) or batch < 1 or (time is not None and (not _is_int(time) or time < 1)):
                raise TunedProfileError(f"a tuned shape needs a positive batch and time, got ({batch}, {time})")
        if self.precision not in PRECISIONS:
            raise TunedProfileError(f"unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}")
        if not isinstance(self.ep, str) or not self.ep:
            raise TunedProfileError(f"a tuned choice needs an execution provider, got {self.ep!r}")

    def describe(self) -> str:
        """One line for tables and summaries: ``cpu, 2 threads, no spinning, int8-dynamic, gain
        1.30x [1.20, 1.40]``."""
        parts = [self.ep, *(f"{k}={v}" for k, v in self.ep_options), self.settings.describe(), self.precision]
        if self.gain is not None:
            parts.append(f"gain {self.gain.describe()}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "shapes": [list(s) for s in self.shapes], "ep": self.ep, "ep_options": dict(self.ep_options),
            "settings": self.settings.to_dict(), "precision": self.precision, "model_file": self.model_file,
            "model_sha256": self.model_sha256, "gain": None if self.gain is None else vars(self.gain).copy(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TunedChoice:
        gain = data.get("gain")
        return cls(
            shapes=tuple((s[0], s[1]) for s in data["shapes"]),
            ep=data["ep"],
            ep_options=tuple(sorted((str(k), str(v)) for k, v in dict(data.get("ep_options") or {}).items())),
            settings=SessionSettings.from_dict(dict(data["settings"])),
            precision=data.get("precision", "fp32"),
            model_file=data.get("model_file"),
            model_sha256=data["model_sha256"],
            gain=None if gain is None else TunedGain(**gain),
        )


@dataclass(frozen=True)
class TunedProfile:
    """A tuned profile: for one model (by hash) on one machine, the choice per shape group.

    Written by `ortkit tune`, read by `Runtime(model, tuned=PATH)` and by ``--tuned`` on
    ``ortkit run``, ``profile``, ``serve`` and the study.
    """

    model_sha256: str
    target: TunedTarget
    choices: tuple[TunedChoice, ...]
    model_label: str = ""
    max_metric_drop: float | None = None
    ortkit_version: str = field(default_factory=ortkit_version)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if not self.choices:
            raise TunedProfileError("a tuned profile needs at least one choice")

    def choice_for(self, batch: int | None = None, time: int | None = None) -> TunedChoice:
        """The choice tuned for this shape: an exact match, else the nearest batch (by ratio),
        then the nearest time; without a shape, the first choice."""
        if batch is None:
            return self.choices[0]

        def distance(choice: TunedChoice) -> tuple[float, float]:
            return min(
                (abs(math.log(b / batch)), abs(math.log((t or 1) / (time or t or 1))))
                for b, t in choice.shapes
            )

        return min(self.choices, key=distance)

    def check(self, model_sha256: str, target: TunedTarget | None = None) -> None:
        """Refuse this profile for another model or another machine, naming both."""
        if model_sha256 != self.model_sha256 and all(c.model_sha256 != model_sha256 for c in self.choices):
            raise TunedProfileMismatch(
                f"tuned profile is for model {self.model_sha256[:12]} ({self.model_label or 'unnamed'}), "
                f"not this model {model_sha256[:12]}: run `ortkit tune` on this model"
            )
        here = target or TunedTarget.here()
        if (here.cpu, here.cores, here.onnxruntime) != (self.target.cpu, self.target.cores, self.target.onnxruntime):
            raise TunedProfileMismatch(
                f"tuned profile was measured on {self.target.describe()}, but this machine is "
                f"{here.describe()}: run `ortkit tune` here"
            )

    def check_choice(self, model_sha256: str, choice: TunedChoice) -> None:
        """Refuse a precision variant given in place of the tuned model when the choice for the
        shape runs another file: the variant would run with settings tuned for another file."""
        if model_sha256 != self.model_sha256 and model_sha256 != choice.model_sha256:
            raise TunedProfileMismatch(
                f"this model {model_sha256[:12]} is one of the tuned profile's precision variants, but for this shape "
                f"the profile runs {choice.precision} ({choice.model_sha256[:12]}): pass the tuned model {self.model_sha256[:12]}"
            )

    def model_path(self, choice: TunedChoice, profile_path: str | os.PathLike[str]) -> Path | None:
        """The file ``choice`` runs (None: the tuned model itself), checked against its hash."""
        if choice.model_file is None:
            return None
        path = Path(choice.model_file)
        if not path.is_absolute():
            path = Path(profile_path).resolve().parent / path
        if not path.is_file():
            raise TunedProfileError(f"tuned profile's {choice.precision} model {path} is missing: re-run `ortkit tune`")
        if file_sha256(path) != choice.model_sha256:
            raise TunedProfileMismatch(f"tuned profile's {choice.precision} model {path} changed since tuning: re-run `ortkit tune`")
        return path

    # ------------------------------------------------------------------ file
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT, "version": PROFILE_VERSION, "ortkit": self.ortkit_version,
            "created": self.created, "model_sha256": self.model_sha256, "model_label": self.model_label,
            "target": vars(self.target).copy(), "max_metric_drop": self.max_metric_drop,
            "choices": [c.to_dict() for c in self.choices],
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the profile as JSON (atomically: a killed write leaves the old file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        os.replace(partial, path)
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TunedProfile:
        return cls(
            model_sha256=data["model_sha256"], model_label=data.get("model_label", ""),
            target=TunedTarget(**data["target"]), max_metric_drop=data.get("max_metric_drop"),
            choices=tuple(TunedChoice.from_dict(c) for c in data["choices"]),
            ortkit_version=data.get("ortkit", ""), created=data.get("created", ""),
        )


def load_tuned_profile(path: str | os.PathLike[str]) -> TunedProfile:
    """Read and check a profile file; every problem is one `TunedProfileError` line."""
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_PROFILE_BYTES:
            raise TunedProfileError(f"{path} is {path.stat().st_size} bytes: too large for a tuned profile")
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise TunedProfileError(f"tuned profile {path} does not exist: write one with `ortkit tune MODEL.onnx`") from None
    except (OSError, ValueError) as error:
        raise TunedProfileError(f"tuned profile {path} is not readable JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise TunedProfileError(f"{path} is not an ortkit tuned profile (no \"format\": \"{PROFILE_FORMAT}\")")
    version = data.get("version")
    if version != PROFILE_VERSION:
        raise TunedProfileError(
            f"tuned profile {path} has version {version!r}; this ortkit reads version {PROFILE_VERSION}: re-run `ortkit tune`"
        )
    try:
        return TunedProfile.from_dict(data)
    except (OrtkitError, KeyError, TypeError, ValueError, IndexError) as error:
        detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise TunedProfileError(f"tuned profile {path} is damaged: {detail}") from None

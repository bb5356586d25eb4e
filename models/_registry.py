"""The model registry: small registered factories plus a frozen spec per resolved configuration.

A zoo entry is a factory function decorated with `register_model`. The decorator records the
entry's family, whether it can be streamed, its default hyperparameters and one preset per task
(the sizes that make the zoo's models comparable on that task). `get_spec` resolves
defaults -> task preset -> user overrides into a frozen, hashable `ModelSpec`, which is all the
exporter and the profiler need to know about a model. Nothing here imports torch at import time.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ortkit.base import OrtkitError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "TensorSpec",
    "ModelSpec",
    "ModelEntry",
    "UnknownModel",
    "BadOverride",
    "register_model",
    "create_model",
    "get_spec",
    "get_entry",
    "list_models",
]

SPEC_SCHEMA_VERSION = 1


class UnknownModel(OrtkitError):
    """A model name that is not in the zoo."""


class BadOverride(OrtkitError):
    """A hyperparameter override the model does not take, or a value it cannot use."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor: its name, numpy dtype name and dims.

    Dims are ints, or the symbolic strings ``"batch"`` and ``"time"`` for dynamic axes.
    """

    name: str
    dtype: str
    dims: tuple[int | str, ...]

    def shape(self, batch: int = 1, time: int = 1) -> tuple[int, ...]:
        """The concrete shape for a given batch size and sequence length."""
        sizes = {"batch": batch, "time": time}
        return tuple(sizes[d] if isinstance(d, str) else d for d in self.dims)

    @property
    def dynamic_axes(self) -> dict[int, str]:
        """Axis index -> symbolic name, in the form torch.onnx.export's ``dynamic_axes`` takes."""
        return {i: d for i, d in enumerate(self.dims) if isinstance(d, str)}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "dims": list(self.dims)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        return cls(str(data["name"]), str(data["dtype"]), tuple(data["dims"]))


@dataclass(frozen=True)
class ModelSpec:
    """What a resolved zoo model is: the key that exporter, profiler and results share.

    ``hyperparameters`` are the resolved values (defaults, then the task preset, then overrides),
    including ``preset``, so ``create_model(spec.name, **spec.hparams())`` rebuilds the same model.
    """

    name: str
    family: str
    task_kind: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    hyperparameters: tuple[tuple[str, Any], ...]
    causal: bool
    recurrent_layers: int
    parameters: int
    description: str = field(default="", compare=False)

    def hparams(self) -> dict[str, Any]:
        """The resolved hyperparameters as a dict (a fresh copy)."""
        return dict(self.hyperparameters)

    @property
    def preset(self) -> str:
        """The task whose preset sizes this model started from."""
        return str(self.hparams()["preset"])

    @property
    def is_sequence(self) -> bool:
        return any(d == "time" for t in self.inputs for d in t.dims)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what the exporter writes into ``ortkit.spec``)."""
        return {
            "schema_version": SPEC_SCHEMA_VERSION,
            "name": self.name,
            "family": self.family,
            "task_kind": self.task_kind,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "hyperparameters": dict(self.hyperparameters),
            "causal": self.causal,
            "recurrent_layers": self.recurrent_layers,
            "parameters": self.parameters,
            "description": self.description,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        return cls(
            name=str(data["name"]),
            family=str(data["family"]),
            task_kind=str(data["task_kind"]),
            inputs=tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in data["outputs"]),
            hyperparameters=tuple(sorted((k, _freeze(v)) for k, v in dict(data["hyperparameters"]).items())),
            causal=bool(data["causal"]),
            recurrent_layers=int(data["recurrent_layers"]),
            parameters=int(data["parameters"]),
            description=str(data.get("description", "")),
        )


@dataclass(frozen=True)
class ModelEntry:
    """A registered factory and what the registry knows about it without building it."""

    name: str
    factory: Callable[..., Any]
    family: str
    input_kind: str  # "sequence" or "image"
    causal: bool
    default_task: str
    presets: Mapping[str, Mapping[str, Any]]
    recurrent_layers: Callable[[Mapping[str, Any]], int]
    description: str

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.factory).parameters)

    @property
    def defaults(self) -> dict[str, Any]:
        return {
            n: p.default
            for n, p in inspect.signature(self.factory).parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    @property
    def valid_keys(self) -> tuple[str, ...]:
        return ("preset", *self.parameter_names)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    family: str,
    input_kind: str = "sequence",
    causal: bool,
    default_task: str,
    presets: Mapping[str, Mapping[str, Any]],
    recurrent_layers: Callable[[Mapping[str, Any]], int] | int = 0,
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a model factory under ``name`` (decorator).

    The factory takes keyword arguments only, all with defaults; sequence factories take
    ``input_size`` and ``num_outputs``, image factories ``in_channels``, ``image_size`` and
    ``num_outputs``. It imports torch itself and returns an ``nn.Module``.

    Args:
        name: the zoo name (``create_model(name)``).
        family: ``"rnn"``, ``"cnn"`` or ``"hybrid"``.
        input_kind: ``"sequence"`` (x: batch, time, features) or ``"image"`` (batch, C, H, W).
        causal: True when the output at step t depends only on steps <= t (streamable).
        default_task: the preset used when none is given.
        presets: task name -> hyperparameters for that task (sizes matched across the zoo).
        recurrent_layers: fused RNN/LSTM/GRU nodes an export must contain (int, or a function of
            the resolved hyperparameters).
        description: one line for ``ortkit models``.
    """
    if family not in {"rnn", "cnn", "hybrid"}:
        raise ValueError(f"family must be rnn, cnn or hybrid, not {family!r}")
    if input_kind not in {"sequence", "image"}:
        raise ValueError(f"input_kind must be sequence or image, not {input_kind!r}")
    if default_task not in presets:
        raise ValueError(f"default_task {default_task!r} has no preset")

    def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        layers = recurrent_layers if callable(recurrent_layers) else (lambda hp, n=recurrent_layers: n)
        _REGISTRY[name] = ModelEntry(
            name=name, factory=factory, family=family, input_kind=input_kind, causal=causal,
            default_task=default_task, presets={k: dict(v) for k, v in presets.items()},
            recurrent_layers=layers,
            description=description or (inspect.getdoc(factory) or "").split("\n")[0],
        )
        return factory

    return decorator


def _ensure_zoo() -> None:
    # The zoo's factories register on import; importing them costs no torch.
    from ortkit.models import _zoo  # noqa: F401


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered models, sorted; ``pattern`` is an fnmatch pattern (``"*lstm*"``)."""
    _ensure_zoo()
    names = sorted(_REGISTRY)
    return [n for n in names if pattern is None or fnmatch.fnmatchcase(n, pattern)]


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; unknown names raise `UnknownModel` with close matches."""
    _ensure_zoo()
    entry = _REGISTRY.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownModel(
            f"unknown model {name!r}: {hint}the zoo has {', '.join(sorted(_REGISTRY))} (see `ortkit models`)"
        )
    return entry


_DEPTH_KEYS = frozenset({"num_layers", "layers", "levels", "blocks", "conv_layers", "depth"})
MAX_DEPTH = 32
MAX_WIDTH = 1 << 20


def _check_value(entry: ModelEntry, key: str, value: Any, default: Any) -> None:
    def bad(expected: str) -> BadOverride:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return BadOverride(f"model {entry.name!r}: {key}={shown} is invalid, expected {expected}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        if default >= 1 and value < 1:
            raise bad("an integer >= 1")
        if value < 0:
            raise bad("an integer >= 0")
        # Caps that keep even building the model on the meta device (see _check_size) quick.
        if key in _DEPTH_KEYS and value > MAX_DEPTH:
            raise bad(f"an integer <= {MAX_DEPTH}")
        if value > MAX_WIDTH:
            raise bad(f"an integer <= {MAX_WIDTH}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        if key == "dropout" and not 0.0 <= value < 1.0:
            raise bad("a number in [0, 1)")
        if value < 0:
            raise bad("a number >= 0")
    elif isinstance(default, str) and not isinstance(value, str):
        raise bad("a string")
    elif isinstance(default, tuple):
        if not isinstance(value, (tuple, list)) or not value:
            raise bad("a non-empty list of integers")
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
            raise bad("a non-empty list of integers >= 1")
        if len(value) > MAX_DEPTH or max(value) > MAX_WIDTH:
            raise bad(f"at most {MAX_DEPTH} integers, each <= {MAX_WIDTH}")


def resolve_hparams(name: str, overrides: Mapping[str, Any]) -> tuple[ModelEntry, dict[str, Any]]:
    """Defaults -> task preset -> overrides, validated. Returns the entry and the resolved dict."""
    entry = get_entry(name)
    unknown = sorted(set(overrides) - set(entry.valid_keys))
    if unknown:
        close = [m for k in unknown for m in difflib.get_close_matches(k, entry.valid_keys, n=1)]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise BadOverride(
            f"model {name!r} has no hyperparameter {', '.join(map(repr, unknown))}{hint}; "
            f"valid keys: {', '.join(entry.valid_keys)}"
        )
    preset = overrides.get("preset") or entry.default_task
    if preset not in entry.presets:
        raise BadOverride(
            f"model {name!r} has no preset {preset!r}; presets: {', '.join(sorted(entry.presets))}"
        )
    defaults = entry.defaults
    resolved: dict[str, Any] = {**defaults, **entry.presets[preset]}
    for key, value in overrides.items():
        if key == "preset":
            continue
        _check_value(entry, key, value, defaults.get(key))
        resolved[key] = tuple(value) if isinstance(value, list) else value
    resolved["preset"] = preset
    return entry, resolved


def _task_kind(task: str) -> str:
    from ortkit.models._tasks import task_kind

    return task_kind(task)


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=256)
def _spec_cached(name: str, frozen: tuple[tuple[str, Any], ...]) -> ModelSpec:
    entry, hp = resolve_hparams(name, dict(frozen))
    model_kwargs = {k: v for k, v in hp.items() if k != "preset"}
    module = entry.factory(**model_kwargs)
    parameters = sum(p.numel() for p in module.parameters())
    return _make_spec(entry, hp, parameters)


def _make_spec(entry: ModelEntry, hp: Mapping[str, Any], parameters: int) -> ModelSpec:
    if entry.input_kind == "sequence":
        inputs = (TensorSpec("x", "float32", ("batch", "time", int(hp["input_size"]))),)
    else:
        size = int(hp["image_size"])
        inputs = (TensorSpec("x", "float32", ("batch", int(hp["in_channels"]), size, size)),)
    outputs = (TensorSpec("y", "float32", ("batch", int(hp["num_outputs"]))),)
    return ModelSpec(
        name=entry.name,
        family=entry.family,
        task_kind=_task_kind(str(hp["preset"])),
        inputs=inputs,
        outputs=outputs,
        hyperparameters=tuple(sorted((k, _freeze(v)) for k, v in hp.items())),
        causal=entry.causal,
        recurrent_layers=int(entry.recurrent_layers(hp)),
        parameters=int(parameters),
        description=entry.description,
    )


def get_spec(name: str, **overrides: Any) -> ModelSpec:
    """The frozen spec of zoo model ``name`` with ``overrides`` applied (builds it once to count
    parameters; the result is cached).

    Raises:
        UnknownModel: ``name`` is not registered (the message lists close matches).
        BadOverride: an override key the model does not take, or an invalid value (the message
            lists the valid keys).
    """
    resolve_hparams(name, overrides)  # validate before hashing (lists are not hashable)
    frozen = tuple(sorted((k, _freeze(v)) for k, v in overrides.items()))
    return _spec_cached(name, frozen)


def create_model(name: str, **overrides: Any) -> torch.nn.Module:
    """Build zoo model ``name`` with fresh (seeded by the caller's torch RNG) weights.

    ``overrides`` may set any factory argument (``hidden_size=64``, ``num_layers=3``) and
    ``preset`` (a task name whose sizes to start from). The returned module carries its
    `ModelSpec` as ``module.ortkit_spec``.

    Raises:
        UnknownModel, BadOverride: as `get_spec`.
    """
    entry, hp = resolve_hparams(name, overrides)
    arguments = {k: v for k, v in hp.items() if k != "preset"}
    _check_size(entry, arguments)
    module = entry.factory(**arguments)
    parameters = sum(p.numel() for p in module.parameters())
    module.ortkit_spec = _make_spec(entry, hp, parameters)
    return module


# Above this, overrides (or a hostile checkpoint manifest) would ask for tens of GB of weights.
MAX_PARAMETERS = 1_000_000_000


def _check_size(entry: ModelEntry, arguments: Mapping[str, Any]) -> None:
    """Refuse sizes that would exhaust memory, before allocating anything: the model is first
    built on torch's meta device, which records shapes only."""
    import torch

    with torch.device("meta"):
        probe = entry.factory(**arguments)
    parameters = sum(p.numel() for p in probe.parameters())
    if parameters > MAX_PARAMETERS:
        raise BadOverride(
            f"model {entry.name!r} with {', '.join(f'{k}={v}' for k, v in sorted(arguments.items()))} would have "
            f"{parameters:,} parameters (at most {MAX_PARAMETERS:,}); choose smaller sizes"
        )

"""The ``ortkit.*`` metadata an export writes into its ONNX file, in one place: the key names, the
writer (`metadata_props`) and a typed reader (`read_metadata`) that every reader uses.

The file is the user's: a hand-edited or damaged value must never crash a reader or become a
wrong number. The reader keeps what it can read, falls back to "unknown" for the rest, and lists
what was damaged in ``problems``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MODEL", "FAMILY", "TASK", "PRECISION", "SPEC", "EXPORT", "STREAMING", "STREAMING_STATES", "RECEPTIVE_FIELD",
    "IO_DTYPE", "CALIBRATION", "OPTIMIZED_FOR", "METADATA_KEYS", "StateSpec", "OrtkitMetadata", "metadata_props", "read_metadata",
]

MODEL = "ortkit.model"
FAMILY = "ortkit.family"
TASK = "ortkit.task"
PRECISION = "ortkit.precision"
SPEC = "ortkit.spec"
EXPORT = "ortkit.export"
STREAMING = "ortkit.streaming"
STREAMING_STATES = "ortkit.streaming.states"
RECEPTIVE_FIELD = "ortkit.streaming.receptive_field"
IO_DTYPE = "ortkit.io_dtype"
CALIBRATION = "ortkit.calibration"
OPTIMIZED_FOR = "ortkit.optimized_for"
#: every key by its short name, for writers in other packages (``METADATA_KEYS["io_dtype"]``)
METADATA_KEYS: Mapping[str, str] = {
    "model": MODEL, "family": FAMILY, "task": TASK, "precision": PRECISION, "spec": SPEC, "export": EXPORT,
    "streaming": STREAMING, "streaming_states": STREAMING_STATES, "receptive_field": RECEPTIVE_FIELD,
    "io_dtype": IO_DTYPE, "calibration": CALIBRATION, "optimized_for": OPTIMIZED_FOR,
}


@dataclass(frozen=True)
class StateSpec:
    """One state tensor of a streaming export: fed as ``input``, returned as ``output``."""

    name: str
    input: str
    output: str
    dims: tuple[int | str, ...]
    dtype: str

    def to_metadata(self) -> dict[str, Any]:
        return {"name": self.name, "input": self.input, "output": self.output, "dims": list(self.dims), "dtype": self.dtype}


@dataclass(frozen=True)
class OrtkitMetadata:
    """What an ortkit export says about itself. ``None`` / empty: not recorded (or damaged: see
    ``problems``, one line per damaged key)."""

    model: str | None = None
    family: str | None = None
    task: str | None = None
    precision: str = "fp32"
    spec: Mapping[str, Any] = field(default_factory=dict)
    export: Mapping[str, Any] = field(default_factory=dict)
    streaming: bool = False
    states: tuple[StateSpec, ...] = ()
    receptive_field: int | None = None
    props: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def hyperparameters(self) -> tuple[tuple[str, Any], ...]:
        """The model's hyperparameters as (name, value) pairs, as the spec records them."""
        hp = self.spec.get("hyperparameters") or []
        try:
            return tuple((str(k), v) for k, v in (hp.items() if isinstance(hp, Mapping) else hp))
        except (TypeError, ValueError):
            return ()

    @property
    def input_dims(self) -> dict[str, list[Any]]:
        """Declared axes per input (``"batch"``, ``"time"`` or a size), from the spec."""
        out: dict[str, list[Any]] = {}
        for item in self.spec.get("inputs") or []:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str) and isinstance(item.get("dims"), list):
                out[item["name"]] = list(item["dims"])
        return out

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> OrtkitMetadata:
        problems: list[str] = []
        spec = _json_object(props, SPEC, problems)
        export = _json_object(props, EXPORT, problems)
        streaming = props.get(STREAMING) == "1"
        states = _states(props, problems) if streaming else ()
        field_text = props.get(RECEPTIVE_FIELD)
        receptive = int(field_text) if field_text is not None and field_text.isdigit() else None
        return cls(
            model=props.get(MODEL) or None, family=props.get(FAMILY) or (spec.get("family") if isinstance(spec.get("family"), str) else None),
            task=props.get(TASK) or None, precision=props.get(PRECISION) or "fp32", spec=spec, export=export,
            streaming=streaming, states=states, receptive_field=receptive, props=dict(props), problems=tuple(problems),
        )


def _json_object(props: Mapping[str, str], key: str, problems: list[str]) -> dict[str, Any]:
    if key not in props:
        return {}
    try:
        value = json.loads(props[key])
    except (TypeError, ValueError) as error:
        problems.append(f"{key!r} is not JSON: {error}")
        return {}
    if not isinstance(value, dict):
        problems.append(f"{key!r} is not a JSON object")
        return {}
    return value


def _states(props: Mapping[str, str], problems: list[str]) -> tuple[StateSpec, ...]:
    try:
        raw = json.loads(props.get(STREAMING_STATES, ""))
        return tuple(
            StateSpec(name=str(s["name"]), input=str(s["input"]), output=str(s["output"]),
                      dims=tuple(s.get("dims", ())), dtype=str(s.get("dtype", "float32")))
            for s in raw
        )
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        problems.append(f"{STREAMING_STATES!r} is malformed: {type(error).__name__}: {error}")
        return ()


def read_metadata(source: Any) -> OrtkitMetadata:
    """The ``ortkit.*`` metadata of an ONNX model: a path (read without external data), a loaded
    ``ModelProto`` or a mapping of its metadata_props.

    Raises:
        OSError / onnx's decode error: only for a path that cannot be read as ONNX (callers turn
        that into their own one-line error); damaged VALUES never raise.
    """
    if isinstance(source, Mapping):
        return OrtkitMetadata.from_props({str(k): str(v) for k, v in source.items()})
    if isinstance(source, (str, os.PathLike)):
        import onnx

        source = onnx.load(os.fspath(source), load_external_data=False)
    return OrtkitMetadata.from_props({p.key: p.value for p in source.metadata_props})


def metadata_props(*, model: str, family: str, task: str | None, precision: str, spec_json: str,
                   export: Mapping[str, Any], states: tuple[Any, ...] | None = None,
                   receptive_field: int | None = None) -> dict[str, str]:
    """The ``ortkit.*`` metadata_props of an export (the writer's half of `read_metadata`).
    ``states`` (objects with ``to_metadata()``) mark a streaming export; ``receptive_field``
    None then means unbounded."""
    props = {
        MODEL: model, FAMILY: family, TASK: task or "", PRECISION: precision, SPEC: spec_json,
        EXPORT: json.dumps(dict(export), sort_keys=True),
    }
    if states is not None:
        props[STREAMING] = "1"
        props[STREAMING_STATES] = json.dumps([s.to_metadata() for s in states])
        props[RECEPTIVE_FIELD] = "unbounded" if receptive_field is None else str(receptive_field)
    return props

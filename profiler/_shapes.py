"""Which concrete input shapes a configuration feeds a model, checked before anything is measured.

Reads the graph with onnx only (no session), so the sweep can reject a shape the model cannot take
before it starts a worker. Axes are found from, in order: the exporter's ``ortkit.spec`` metadata
(dims named ``"batch"`` / ``"time"``), the graph's symbolic dim names, then position (axis 0 is
the batch; the first other symbolic axis is time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ortkit.base import OrtkitError

__all__ = ["InputSig", "ShapeError", "model_signature", "concrete_shapes", "make_feeds", "streaming_states", "model_size_bytes"]

BATCH_NAMES = {"batch", "batch_size", "n", "b", "N", "B"}
TIME_NAMES = {"time", "seq", "seq_len", "sequence", "sequence_length", "t", "T", "steps"}


class ShapeError(OrtkitError):
    """The model cannot take the requested batch/time shape."""


@dataclass(frozen=True)
class InputSig:
    name: str
    dtype: str
    dims: tuple[int | str | None, ...]
    roles: tuple[str | None, ...]  # "batch", "time" or None per axis


def _load(path: str | Path) -> Any:
    import onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise ShapeError(f"model file not found: {path}") from None
    except Exception as error:  # noqa: BLE001 - onnx raises DecodeError and friends
        raise ShapeError(f"{path} is not a readable ONNX model: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None


def streaming_states(model: Any) -> list[dict[str, Any]]:
    """The declared states of a streaming export (as ``StateSpec.to_metadata()`` dicts), or []
    for other models and for damaged state metadata."""
    from ortkit.runtime import read_metadata

    return [state.to_metadata() for state in read_metadata(model).states]


def model_signature(path: str | Path) -> tuple[list[InputSig], dict[str, str]]:
    """The graph inputs (initializers excluded) with the role of each axis, and the metadata."""
    import onnx
    from onnx import helper

    from ortkit.runtime import read_metadata

    model = _load(path)
    ortkit_meta = read_metadata(model)
    meta = dict(ortkit_meta.props)
    spec_dims = ortkit_meta.input_dims
    state_inputs = {s.get("input") for s in streaming_states(model)}
    initializers = {init.name for init in model.graph.initializer}
    sigs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name if tensor.elem_type else "float32"
        dims: list[int | str | None] = []
        for dim in tensor.shape.dim:
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param"):
                dims.append(dim.dim_param)
            else:
                dims.append(None)
        roles = _roles(dims, spec_dims.get(value.name), is_state=value.name in state_inputs)
        sigs.append(InputSig(value.name, dtype, tuple(dims), roles))
    del onnx
    return sigs, meta


def _roles(dims: list[int | str | None], spec: list[Any] | None, *, is_state: bool) -> tuple[str | None, ...]:
    if spec is not None and len(spec) == len(dims):
        return tuple(d if d in ("batch", "time") else None for d in spec)
    roles: list[str | None] = [None] * len(dims)
    for axis, dim in enumerate(dims):
        if isinstance(dim, str) and dim in BATCH_NAMES:
            roles[axis] = "batch"
        elif isinstance(dim, str) and dim in TIME_NAMES and not is_state:
            roles[axis] = "time"
    if "batch" not in roles and dims and not is_state:
        # Axis 0 is the batch even when fixed: a fixed batch of 1 must refuse batch=8, not
        # silently measure batch 1 under batch 8's name.
        roles[0] = "batch"
    if is_state:
        # A state tensor (layers, batch, hidden) has a batch axis but never a time axis.
        if "batch" not in roles:
            for axis, dim in enumerate(dims):
                if not isinstance(dim, int):
                    roles[axis] = "batch"
                    break
        return tuple(roles)
    if "time" not in roles:
        for axis, dim in enumerate(dims):
            if roles[axis] is None and (dim is None or isinstance(dim, str)):
                roles[axis] = "time"
                break
    return tuple(roles)


def has_time_axis(sigs: list[InputSig]) -> bool:
    return any("time" in sig.roles for sig in sigs)


def concrete_shapes(path: str | Path, sigs: list[InputSig], batch: int, time: int | None) -> dict[str, tuple[int, ...]]:
    """Concrete shape of every input for (batch, time).

    Raises:
        ShapeError: an axis is fixed to another size, a symbolic axis has no known role, or a time
            length is missing for a model with a time axis.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for sig in sigs:
        shape: list[int] = []
        for axis, (dim, role) in enumerate(zip(sig.dims, sig.roles)):
            want = batch if role == "batch" else time if role == "time" else None
            if role == "time" and time is None:
                raise ShapeError(f"{Path(path).name}: input '{sig.name}' has a time axis (axis {axis}); give a time length (--time)")
            if isinstance(dim, int):
                if want is not None and dim != want:
                    what = "batch size" if role == "batch" else "time length"
                    raise ShapeError(
                        f"{Path(path).name}: input '{sig.name}' has a fixed {what} of {dim} (axis {axis}); "
                        f"it cannot take {role}={want}. Re-export with a dynamic {role} axis or measure {role}={dim}"
                    )
                shape.append(dim)
            elif want is not None:
                shape.append(want)
            else:
                raise ShapeError(
                    f"{Path(path).name}: input '{sig.name}' axis {axis} is symbolic ({dim!r}) and is neither batch nor time; "
                    "ortkit cannot choose a size for it"
                )
        shapes[sig.name] = tuple(shape)
    return shapes


def make_feeds(sigs: list[InputSig], shapes: dict[str, tuple[int, ...]], seed: int = 0, zero: set[str] | None = None) -> dict[str, np.ndarray]:
    """Random inputs of the given shapes (zeros for integer/bool inputs and for ``zero`` names:
    lengths and states stay valid at any shape), from the runtime's one random-feed generator."""
    from ortkit.runtime import random_feeds

    return random_feeds(((sig.name, sig.dtype, shapes[sig.name]) for sig in sigs), seed=seed, zero=zero or (), int_high=None)


def model_size_bytes(path: str | Path) -> int:
    """Size on disk of the model file plus the external data files it names."""
    path = Path(path)
    total = path.stat().st_size
    try:
        from onnx.external_data_helper import _get_all_tensors

        model = _load(path)
        seen = set()
        for tensor in _get_all_tensors(model):
            for entry in tensor.external_data:
                if entry.key == "location" and entry.value not in seen:
                    seen.add(entry.value)
                    candidate = path.parent / entry.value
                    if candidate.is_file():
                        total += candidate.stat().st_size
    except (ImportError, OSError, ShapeError):
        pass
    return total

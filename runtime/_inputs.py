"""The model's signature and the per-call input checks.

Everything that does not depend on the call (names, numpy dtypes, ranks, fixed dims, which
symbolic dims are shared) is computed once per session, so a call that is right costs a few
attribute reads per input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ortkit.runtime._errors import InputError

__all__ = ["TensorInfo", "InputPlan", "ORT_TO_NUMPY"]

ORT_TO_NUMPY: dict[str, str] = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


@dataclass(frozen=True)
class TensorInfo:
    """One input or output: its name, numpy dtype name (or onnxruntime's type string when numpy
    has no such dtype, e.g. ``tensor(bfloat16)``) and dims, where a symbolic dim is its name
    (``"batch"``) and an unnamed dynamic dim is None."""

    name: str
    dtype: str
    dims: tuple[int | str | None, ...]

    @property
    def rank(self) -> int:
        return len(self.dims)

    def shape_text(self) -> str:
        return "(" + ", ".join("?" if d is None else str(d) for d in self.dims) + ("," if len(self.dims) == 1 else "") + ")"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "dims": list(self.dims)}

    @classmethod
    def from_node_arg(cls, arg: Any) -> TensorInfo:
        dims: tuple[int | str | None, ...] = ()
        shape = arg.shape
        if isinstance(shape, (list, tuple)):
            dims = tuple(d if isinstance(d, (int, str)) and d != "" else None for d in shape)
        return cls(name=arg.name, dtype=ORT_TO_NUMPY.get(arg.type, arg.type), dims=dims)


class InputPlan:
    """Checks and normalises a call's inputs against the signature."""

    def __init__(self, inputs: Sequence[TensorInfo]) -> None:
        self.infos = tuple(inputs)
        self.names = tuple(info.name for info in inputs)
        self.name_set = frozenset(self.names)
        self.count = len(self.names)
        # A symbol is checked only when it occurs more than once across the inputs.
        occurrences: dict[str, int] = {}
        for info in inputs:
            for dim in info.dims:
                if isinstance(dim, str):
                    occurrences[dim] = occurrences.get(dim, 0) + 1
        shared = {sym for sym, n in occurrences.items() if n > 1}
        self.shared = bool(shared)
        specs = []
        for info in inputs:
            dtype = np.dtype(info.dtype) if info.dtype in ORT_TO_NUMPY.values() else None
            fixed = tuple((axis, d) for axis, d in enumerate(info.dims) if isinstance(d, int))
            symbolic = tuple((axis, d) for axis, d in enumerate(info.dims) if isinstance(d, str) and d in shared)
            specs.append((info.name, dtype, len(info.dims) if dtype is not None else -1, fixed, symbolic, info))
        self.specs = tuple(specs)

    def feed(self, inputs: Any, cast: bool) -> dict[str, Any]:
        """The dict to hand to onnxruntime, or `InputError`.

        The common case (a dict of numpy arrays that match) returns ``inputs`` itself after a few
        identity and length checks; anything else goes through `_full`, which converts what it
        may and explains what it may not. Non-contiguous arrays pass: onnxruntime copies them.
        """
        if type(inputs) is not dict or len(inputs) != self.count:
            return self._full(inputs, cast)
        symbols: dict[str, int] | None = None
        for name, dtype, rank, fixed, symbolic, _ in self.specs:
            value = inputs.get(name)
            if type(value) is not np.ndarray or value.dtype is not dtype:
                return self._full(inputs, cast)
            shape = value.shape
            if len(shape) != rank:
                return self._full(inputs, cast)
            for axis, size in fixed:
                if shape[axis] != size:
                    return self._full(inputs, cast)
            if symbolic:
                if symbols is None:
                    symbols = {}
                for axis, sym in symbolic:
                    if symbols.setdefault(sym, shape[axis]) != shape[axis]:
                        return self._full(inputs, cast)
        return inputs

    def _full(self, inputs: Any, cast: bool) -> dict[str, Any]:
        if type(inputs) is not dict:
            inputs = self._as_dict(inputs)
        elif len(inputs) != len(self.names):
            self._wrong_names(inputs)
        feed: dict[str, Any] = {}
        symbols: dict[str, tuple[int, str]] = {}
        for name, dtype, rank, fixed, symbolic, info in self.specs:
            try:
                value = inputs[name]
            except KeyError:
                self._wrong_names(inputs)
            if type(value) is not np.ndarray:
                value = self._coerce(info, value)
            if dtype is None:  # not a plain tensor input: leave it to onnxruntime
                feed[name] = value
                continue
            if value.dtype != dtype:
                value = self._convert(info, value, dtype, cast)
            if value.ndim != rank:
                raise InputError(
                    f"input {name!r}: expected rank {rank} {info.shape_text()}, got shape {tuple(value.shape)}"
                )
            shape = value.shape
            for axis, size in fixed:
                if shape[axis] != size:
                    raise InputError(
                        f"input {name!r}: expected dim {axis} = {size} {info.shape_text()}, got shape {tuple(shape)}"
                    )
            for axis, sym in symbolic:
                seen = symbols.setdefault(sym, (shape[axis], name))
                if seen[0] != shape[axis]:
                    raise InputError(
                        f"inputs {seen[1]!r} and {name!r} disagree on {sym!r}: expected {sym} = {seen[0]} "
                        f"(from {seen[1]!r}), got {shape[axis]} in {name!r} shape {tuple(shape)}"
                    )
            feed[name] = value
        return feed

    def _as_dict(self, inputs: Any) -> dict[str, Any]:
        if isinstance(inputs, Mapping):
            inputs = dict(inputs)
            if len(inputs) != len(self.names):
                self._wrong_names(inputs)
            return inputs
        if isinstance(inputs, (list, tuple)) and not (
            len(self.names) == 1 and inputs and not isinstance(inputs[0], np.ndarray)
        ):
            values = list(inputs)
        else:
            values = [inputs]
        if len(values) != len(self.names):
            raise InputError(
                f"expected {len(self.names)} input(s) ({', '.join(self.names)}) by position, got {len(values)}"
            )
        return dict(zip(self.names, values))

    def _wrong_names(self, inputs: Mapping[str, Any]) -> None:
        missing = [n for n in self.names if n not in inputs]
        unknown = [str(n) for n in inputs if n not in self.name_set]
        parts = []
        if missing:
            parts.append(f"missing {', '.join(repr(n) for n in missing)}")
        if unknown:
            parts.append(f"unknown {', '.join(repr(n) for n in unknown)}")
        raise InputError(f"expected inputs {', '.join(self.names)}, got {', '.join(map(str, inputs)) or 'none'} ({'; '.join(parts)})")

    @staticmethod
    def _coerce(info: TensorInfo, value: Any) -> np.ndarray:
        if hasattr(value, "__array__") or isinstance(value, (list, tuple, int, float, bool, np.generic)):
            try:
                return np.asarray(value)
            except (ValueError, TypeError) as error:
                raise InputError(f"input {info.name!r}: expected an array {info.shape_text()}, got {type(value).__name__} ({error})") from None
        raise InputError(f"input {info.name!r}: expected a numpy array of {info.dtype} {info.shape_text()}, got {type(value).__name__}")

    @staticmethod
    def _convert(info: TensorInfo, value: np.ndarray, dtype: np.dtype, cast: bool) -> np.ndarray:
        if value.dtype.newbyteorder("=") == dtype and value.dtype.kind != "O":
            return value.astype(dtype)  # same type, other byte order: not a cast
        if not cast:
            raise InputError(
                f"input {info.name!r}: expected dtype {dtype.name}, got {value.dtype.name} "
                "(convert it, or pass cast=True)"
            )
        try:
            return value.astype(dtype, casting="unsafe")
        except (ValueError, TypeError) as error:
            raise InputError(f"input {info.name!r}: cannot cast {value.dtype.name} to {dtype.name}: {error}") from None

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
    (``"batch"``) and an unnamed dynamic dim is None. ``ranked`` is False when the model declares
    no shape at all (any rank is accepted; ``dims`` is then empty)."""

    name: str
    dtype: str
    dims: tuple[int | str | None, ...]
    ranked: bool = True

    @property
    def rank(self) -> int:
        return len(self.dims)

    def shape_text(self) -> str:
        if not self.ranked:
            return "(any shape)"
        return "(" + ", ".join("?" if d is None else str(d) for d in self.dims) + ("," if len(self.dims) == 1 else "") + ")"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "dims": list(self.dims)}
        if not self.ranked:
            out["ranked"] = False
        return out

    @classmethod
    def from_node_arg(cls, arg: Any, ranked: bool = True) -> TensorInfo:
        """From an onnxruntime NodeArg. onnxruntime reports an undeclared shape and a scalar
        alike (``[]``), so the caller says which it is (from the ONNX proto)."""
        dims: tuple[int | str | None, ...] = ()
        shape = arg.shape
        if ranked and isinstance(shape, (list, tuple)):
            dims = tuple(d if isinstance(d, (int, str)) and d != "" else None for d in shape)
        return cls(name=arg.name, dtype=ORT_TO_NUMPY.get(arg.type, arg.type), dims=dims, ranked=ranked)


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
            # rank -1: not a plain tensor, or no declared shape; such inputs always take the full path.
            rank = len(info.dims) if dtype is not None and info.ranked else -1
            specs.append((info.name, dtype, rank, fixed, symbolic, info))
        self.specs = tuple(specs)
        # Axes the model declares as a fixed 0: the only place an empty input is accepted.
        self.zero_axes = {info.name: frozenset(a for a, d in enumerate(info.dims) if d == 0) for info in inputs}

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
            if len(shape) != rank or 0 in shape:
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

    def _full(self, inputs: Any, cast: bool, allow_empty: bool = False) -> dict[str, Any]:
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
            if dtype is None:  # a sequence, map or optional, or a dtype numpy lacks: onnxruntime checks it
                if value is None:
                    raise InputError(f"input {name!r}: got None; expected a {info.dtype}")
                feed[name] = value
                continue
            source = value
            if type(value) is not np.ndarray:
                value = self._coerce(info, value)
            if value.dtype != dtype:
                value = self._convert(info, value, dtype, cast, source)
            if rank >= 0 and value.ndim != rank:
                raise InputError(
                    f"input {name!r}: expected rank {rank} {info.shape_text()}, got shape {tuple(value.shape)}"
                )
            shape = value.shape
            for axis, size in fixed:
                if shape[axis] != size:
                    raise InputError(
                        f"input {name!r}: expected dim {axis} = {size} {info.shape_text()}, got shape {tuple(shape)}"
                    )
            empty = [a for a, n in enumerate(shape) if n == 0 and a not in self.zero_axes[name]]
            if empty and not allow_empty:
                axis = empty[0]
                label = info.dims[axis] if axis < len(info.dims) and isinstance(info.dims[axis], str) else f"dim {axis}"
                # Some onnxruntime kernels (GRU/LSTM at batch or time 0) abort the whole process on
                # empty tensors instead of raising, so an empty input never reaches them.
                raise InputError(
                    f"input {name!r}: {label} is 0 in shape {tuple(shape)} {info.shape_text()}; empty inputs are "
                    "not run (some onnxruntime kernels abort the process on them): give at least one element"
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
        if inputs is None:
            raise InputError(f"no inputs given; the model takes {', '.join(self.names)}")
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
        if isinstance(value, np.ma.MaskedArray):
            # np.asarray would drop the mask and run on whatever the masked slots hold.
            raise InputError(
                f"input {info.name!r}: a masked array; its mask would be ignored: pass value.filled(...) "
                "or value.data explicitly"
            )
        if isinstance(value, np.ndarray):  # a subclass (np.memmap, np.matrix): its plain view
            return value.view(np.ndarray)
        if hasattr(value, "__array__") or isinstance(value, (list, tuple, int, float, bool, complex, np.generic)):
            try:
                return np.asarray(value)
            except Exception as error:  # ragged lists, a failing __array__, overflowing ints...
                raise InputError(
                    f"input {info.name!r}: cannot make an array {info.shape_text()} of this {type(value).__name__}: "
                    f"{_first_line(error)}"
                ) from None
        raise InputError(f"input {info.name!r}: expected a numpy array of {info.dtype} {info.shape_text()}, got {type(value).__name__}")

    @staticmethod
    def _convert(info: TensorInfo, value: np.ndarray, dtype: np.dtype, cast: bool, source: Any = None) -> np.ndarray:
        if value.dtype.newbyteorder("=") == dtype and value.dtype.kind != "O":
            return value.astype(dtype)  # same type, other byte order: not a cast
        if dtype.kind == "O" and value.dtype.kind == "U":
            return value.astype(object)  # strings for a string tensor: the same values
        if dtype.kind == "O":
            raise InputError(
                f"input {info.name!r}: expected strings (a numpy array of str or object), got {value.dtype.name}"
            )
        got = value.dtype.name
        if source is not None and type(source) is not np.ndarray:
            got = f"a {type(source).__name__} that converts to {got}"
        if not cast:
            raise InputError(
                f"input {info.name!r}: expected dtype {dtype.name}, got {got} "
                f"(convert it, e.g. np.asarray(value, np.{dtype.name}), or pass cast=True)"
            )
        if value.dtype.kind not in _CASTABLE_KINDS:
            # Strings parse, complex drops its imaginary part, datetimes become counts: not casts
            # anyone means by cast=True.
            raise InputError(f"input {info.name!r}: cannot cast {got} to {dtype.name}; convert it yourself")
        if value.dtype.kind == "c" and dtype.kind != "c":
            raise InputError(f"input {info.name!r}: cannot cast complex {got} to {dtype.name} (it would drop the imaginary part)")
        try:
            if value.dtype.kind == "O":
                value = _numeric_objects(info, value)
            if dtype.kind in "iu" and value.dtype.kind in "biuf":
                _check_integral(info, value, dtype)
            with np.errstate(invalid="ignore", over="ignore"):
                converted = value.astype(dtype, casting="unsafe")
            if dtype.kind == "b" and value.dtype.kind == "f" and not np.isfinite(value).all():
                raise InputError(f"input {info.name!r}: cannot cast NaN or infinity to {dtype.name}")
            if dtype.kind == "f" and value.dtype.kind in "iuf" and value.size:
                # float64 1e300 -> float32 is inf: a value the caller never gave.
                invented = np.isinf(converted) & ~np.isinf(value) if value.dtype.kind == "f" else np.isinf(converted)
                if invented.any():
                    bad = value[invented].flat[0].item()
                    info_f = np.finfo(dtype)
                    raise InputError(
                        f"input {info.name!r}: {bad!r} is out of the range of {dtype.name} "
                        f"[{info_f.min:g}, {info_f.max:g}]; cast=True does not turn it into infinity"
                    )
        except InputError:
            raise
        except (ValueError, TypeError, OverflowError) as error:
            raise InputError(f"input {info.name!r}: cannot cast {got} to {dtype.name}: {_first_line(error)}") from None
        return converted


def _numeric_objects(info: TensorInfo, value: np.ndarray) -> np.ndarray:
    """An object array (Python ints or floats) as a numeric array, so that its range is checked
    like any other; a Python int beyond 64 bits stays an error, not a wrapped number."""
    try:
        return np.array(value.tolist())
    except (OverflowError, ValueError, TypeError) as error:
        raise InputError(f"input {info.name!r}: cannot read these objects as numbers: {_first_line(error)}") from None


def _check_integral(info: TensorInfo, value: np.ndarray, dtype: np.dtype) -> None:
    """Refuse what a cast to an integer type would invent: a value out of its range (wrapped), a
    fraction (truncated), NaN or infinity (undefined)."""
    if value.size == 0:
        return
    limits = np.iinfo(dtype)
    if value.dtype.kind == "f":
        finite = np.isfinite(value)
        if not finite.all():
            bad = value[~finite].flat[0].item()
            raise InputError(f"input {info.name!r}: cannot cast {bad!r} to {dtype.name} (NaN or infinity)")
        fraction = value != np.trunc(value)
        if fraction.any():
            bad = value[fraction].flat[0].item()
            raise InputError(
                f"input {info.name!r}: {bad!r} is not a whole number; cast=True does not round it to {dtype.name}"
            )
    # Python compares int and float exactly, so the bounds hold at 2**63 and beyond.
    low, high = value.min().item(), value.max().item()
    for bad in (low, high):
        if not limits.min <= bad <= limits.max:
            raise InputError(
                f"input {info.name!r}: {bad!r} is out of the range of {dtype.name} [{limits.min}, {limits.max}]; "
                "cast=True does not wrap or clip values"
            )


_CASTABLE_KINDS = frozenset("biufcO")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]

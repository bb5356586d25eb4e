"""Step-by-step runs of a streaming export (docs/architecture.md, "Streaming models").

A streaming model takes the sequence chunk ``x`` plus one input per state tensor and returns the
per-step outputs plus one output per state. `Stream` feeds each state output back as the next
state input: on the CPU the numpy array onnxruntime returned is passed straight back (no copy);
on device EPs the state stays in a device OrtValue bound to the next call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from ortkit.runtime._errors import InputError, NotStreamable
from ortkit.runtime._metadata import STREAMING, STREAMING_STATES, StateSpec, read_metadata

if TYPE_CHECKING:
    from ortkit.runtime._runtime import Runtime

__all__ = ["Stream", "StateSpec", "streaming_states"]


def streaming_states(runtime: Runtime) -> tuple[StateSpec, ...]:
    """The state tensors a streaming export declares, checked against the session's signature."""
    meta = read_metadata(runtime.metadata)
    if not meta.streaming:
        raise NotStreamable(
            f"this model is not a streaming export (no {STREAMING!r} metadata); export it with "
            "`ortkit export ... --streaming` to run it chunk by chunk, or call run() on whole sequences"
        )
    damaged = [p for p in meta.problems if STREAMING_STATES in p]
    if damaged:
        raise NotStreamable(f"the model's {damaged[0]}")
    states = meta.states
    inputs = {i.name for i in runtime.inputs}
    outputs = {o.name for o in runtime.outputs}
    for state in states:
        if state.input not in inputs or state.output not in outputs:
            raise NotStreamable(
                f"streaming state {state.name!r} names input {state.input!r} and output {state.output!r}, "
                f"but the model has inputs {sorted(inputs)} and outputs {sorted(outputs)}"
            )
        try:
            np.dtype(state.dtype)
        except TypeError:
            raise NotStreamable(f"streaming state {state.name!r} has an unknown dtype {state.dtype!r}") from None
    if not states:
        raise NotStreamable("the model's streaming metadata declares no state")
    return states


class Stream:
    """A stateful stream: `push` one chunk, get that chunk's outputs; state carries over.

    Not thread-safe (it holds state); open one stream per caller. Created by `Runtime.stream`.
    """

    def __init__(self, runtime: Runtime, initial_state: Mapping[str, np.ndarray] | None = None) -> None:
        self._rt = runtime
        self._states = streaming_states(runtime)
        state_inputs = {s.input for s in self._states}
        self._data_inputs = [i for i in runtime.inputs if i.name not in state_inputs]
        if not self._data_inputs:
            raise NotStreamable("the streaming model has no input besides its states")
        self._data_names = frozenset(i.name for i in self._data_inputs)
        self._state_outputs = {s.output for s in self._states}
        self._initial, self._initial_batch = self._check_initial(initial_state)
        self._state: dict[str, Any] | None = None
        self._batch_size: int | None = None
        self._device = runtime._bound_device
        self._io: Any = None

    def _check_initial(self, initial: Mapping[str, np.ndarray] | None) -> tuple[dict[str, np.ndarray] | None, int | None]:
        if initial is None:
            return None, None
        if not isinstance(initial, Mapping):
            raise InputError(
                f"initial_state must be a dict {{state name: array}}, got {type(initial).__name__}; the model's "
                f"states are {', '.join(s.name for s in self._states)}"
            )
        by_key = {s.name: s for s in self._states} | {s.input: s for s in self._states}
        unknown = [k for k in initial if k not in by_key]
        if unknown:
            raise InputError(
                f"initial_state: unknown state {', '.join(map(repr, unknown))}; the model's states are "
                f"{', '.join(s.name for s in self._states)}"
            )
        result: dict[str, np.ndarray] = {}
        batch: tuple[int, str] | None = None
        for key, value in initial.items():
            spec = by_key[key]
            if spec.input in result:
                raise InputError(f"initial_state: state {spec.name!r} is given twice (as {spec.name!r} and {spec.input!r})")
            expected = f"{spec.dtype} array of dims {list(spec.dims)}"
            if not isinstance(value, np.ndarray):
                raise InputError(f"initial_state {spec.name!r}: expected a numpy {expected}, got {type(value).__name__}")
            if value.dtype != np.dtype(spec.dtype):
                raise InputError(f"initial_state {spec.name!r}: expected dtype {spec.dtype}, got {value.dtype}")
            if value.ndim != len(spec.dims):
                raise InputError(f"initial_state {spec.name!r}: expected dims {list(spec.dims)}, got shape {value.shape}")
            for axis, (dim, size) in enumerate(zip(spec.dims, value.shape)):
                if isinstance(dim, int) and dim != size:
                    raise InputError(
                        f"initial_state {spec.name!r}: expected dims {list(spec.dims)}, got shape {value.shape} "
                        f"(dim {axis} must be {dim})"
                    )
                if dim == "batch":
                    if size == 0:
                        raise InputError(f"initial_state {spec.name!r}: batch is 0 in shape {value.shape}")
                    if batch is not None and batch[0] != size:
                        raise InputError(
                            f"initial_state: states {batch[1]!r} and {spec.name!r} disagree on batch ({batch[0]} vs {size})"
                        )
                    batch = (size, spec.name)
            # A private copy: the caller may reuse or change its array after creating the stream.
            result[spec.input] = np.array(value, order="C", copy=True)
        return result, batch[0] if batch else None

    @property
    def states(self) -> tuple[StateSpec, ...]:
        return self._states

    @property
    def state(self) -> dict[str, np.ndarray] | None:
        """The current state by state name (host copies), or None before the first push."""
        if self._state is None:
            return None
        out = {}
        for spec in self._states:
            value = self._state[spec.input]
            out[spec.name] = value.numpy() if isinstance(value, ort.OrtValue) else value
        return out

    @property
    def batch(self) -> int | None:
        """The batch size this stream runs (set by its first chunk or initial state), or None."""
        return self._batch_size if self._batch_size is not None else self._initial_batch

    def reset(self, initial_state: Mapping[str, np.ndarray] | None = None) -> None:
        """Forget the state; the next push starts from ``initial_state`` (or the one given at
        creation, or zeros). The next chunk may have another batch size."""
        if initial_state is not None:
            self._initial, self._initial_batch = self._check_initial(initial_state)
        self._state = None
        self._batch_size = None

    def push(self, chunk: Any, *, cast: bool = False) -> dict[str, np.ndarray]:
        """Run one chunk: ``x`` of shape (batch, chunk_time, features), or a dict of the model's
        non-state inputs. Returns the non-state outputs of that chunk.

        A chunk with no time steps returns empty outputs and leaves the state as it was. A chunk
        whose batch differs from the stream's raises `InputError` (call `reset` first).
        """
        if isinstance(chunk, Mapping):
            feed = dict(chunk)
            clash = [s.input for s in self._states if s.input in feed]
            if clash:
                raise InputError(f"push: {', '.join(clash)} is state, kept by the stream; do not pass it")
            missing = [n for n in self._data_names if n not in feed]
            unknown = [str(k) for k in feed if k not in self._data_names]
            if missing or unknown:
                raise InputError(
                    f"push: expected {', '.join(i.name for i in self._data_inputs)}, got "
                    f"{', '.join(map(str, feed)) or 'nothing'}"
                )
        elif len(self._data_inputs) == 1:
            feed = {self._data_inputs[0].name: chunk}
        else:
            raise InputError(
                f"push: the model takes {', '.join(i.name for i in self._data_inputs)}; pass a dict"
            )
        batch = self._batch(feed)
        expected = self.batch
        if batch is not None and expected is not None and batch != expected:
            raise InputError(
                f"push: this stream runs batch {expected} (set by its "
                f"{'first chunk' if self._batch_size is not None else 'initial state'}), got a chunk of batch "
                f"{batch}; call reset() to start again with another batch"
            )
        if any(_is_empty(v) for v in feed.values()):
            return self._empty(feed, cast)
        # The state is committed only after a successful run: a rejected chunk changes nothing.
        state = self._state if self._state is not None else self._start(feed)
        if self._device is None:
            outputs = self._rt.run({**feed, **state}, cast=cast)
            self._state = {s.input: outputs.pop(s.output) for s in self._states}
        else:
            outputs = self._push_bound(feed, state, cast)
        if self._batch_size is None:
            self._batch_size = batch if batch is not None else self._initial_batch
        return outputs

    def _empty(self, feed: Mapping[str, Any], cast: bool) -> dict[str, np.ndarray]:
        """The outputs of a chunk with no elements: checked like any chunk, nothing is run (some
        onnxruntime kernels abort on empty tensors) and the state stays as it was."""
        batch = self.batch or self._batch(feed) or 1
        placeholders = {
            s.input: np.empty([d if isinstance(d, int) else batch for d in s.dims], dtype=np.dtype(s.dtype))
            for s in self._states
        }
        checked = self._rt._plan._full({**feed, **placeholders}, cast, allow_empty=True)
        symbols: dict[str, int] = {}
        for info in self._rt.inputs:
            for dim, size in zip(info.dims, np.shape(checked[info.name])):
                if isinstance(dim, str):
                    symbols.setdefault(dim, int(size))
        outputs: dict[str, np.ndarray] = {}
        for info in self._rt.outputs:
            if info.name in self._state_outputs:
                continue
            dims = [d if isinstance(d, int) else symbols.get(d) if isinstance(d, str) else None for d in info.dims]
            if any(d is None for d in dims) or info.dtype not in _NUMPY_NAMES:
                raise InputError(
                    f"push: the chunk is empty and the shape of output {info.name!r} {info.shape_text()} cannot be "
                    "derived from it; skip empty chunks"
                )
            outputs[info.name] = np.zeros(dims, dtype=info.dtype)
        return outputs

    def _start(self, feed: Mapping[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {}
        batch = self._batch(feed)
        for spec in self._states:
            if self._initial is not None and spec.input in self._initial:
                state[spec.input] = self._initial[spec.input]
                continue
            dims = []
            for d in spec.dims:
                if isinstance(d, int):
                    dims.append(d)
                elif batch is not None:
                    dims.append(batch)
                else:
                    for info in self._data_inputs:  # a chunk that is no array says so first
                        self._rt._plan._coerce(info, feed.get(info.name))
                    raise InputError(f"push: cannot tell the batch size for state {spec.name!r} from the chunk")
            state[spec.input] = np.zeros(dims, dtype=spec.dtype)
        if self._device is not None:
            device, device_id = self._device
            state = {k: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v), device, device_id) for k, v in state.items()}
        return state

    def _batch(self, feed: Mapping[str, Any]) -> int | None:
        for info in self._data_inputs:
            if "batch" not in info.dims:
                continue
            value = feed.get(info.name)
            shape = getattr(value, "shape", None)
            if shape is None:
                try:
                    shape = np.shape(value) if value is not None else None
                except Exception:  # ragged lists: the checks explain it
                    shape = None
            axis = info.dims.index("batch")
            if shape is not None and axis < len(shape):
                return int(shape[axis])
        return None

    def _push_bound(self, feed: dict[str, Any], state: dict[str, Any], cast: bool) -> dict[str, np.ndarray]:
        # The checks see each device state through an empty host array of its shape and dtype
        # (states are small; their data never leaves the device).
        placeholders = {
            name: np.empty(tuple(value.shape()), dtype=_ORT_DTYPES.get(value.data_type(), np.float32))
            for name, value in state.items()
        }
        checked = self._rt._plan.feed({**feed, **placeholders}, cast)
        self._rt._guard.check(checked)  # the shapes are all it reads: placeholders serve
        device, device_id = self._device
        io = self._rt.session.io_binding()
        for name, value in checked.items():
            if name in state:
                io.bind_ortvalue_input(name, state[name])
            else:
                io.bind_cpu_input(name, value)
        names = [o.name for o in self._rt.outputs]
        for name in names:
            io.bind_output(name, device, device_id)
        try:
            self._rt.session.run_with_iobinding(io, self._rt._run_options)
        except Exception as error:
            raise self._rt._run_error(error) from None
        values = dict(zip(names, io.get_outputs()))
        self._state = {s.input: values[s.output] for s in self._states}
        return {name: value.numpy() for name, value in values.items() if name not in self._state_outputs}


_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}

_NUMPY_NAMES = frozenset(
    {"float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"}
)


def _is_empty(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.size == 0
    if isinstance(value, (list, tuple)):
        try:
            return 0 in np.shape(value)
        except Exception:  # ragged: the input checks explain it
            return False
    return False

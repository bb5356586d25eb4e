"""Streaming (step) export: the model consumes a sequence chunk by chunk, carrying explicit state.

A causal model exposes the zoo's streaming interface (see models/_zoo.py):
``forward_steps(x)`` -> the head at every step (batch, time, outputs); ``stream_states()`` ->
``[(name, dims)]``; ``forward_stream(x, *states)`` -> ``(y_steps, *new_states)``. The step model
written here has the inputs ``x`` and one ``<state>_in`` per state tensor, and the outputs ``y``
(batch, chunk, outputs) and one ``<state>_out`` each. Recurrent states stacked over layers
(``(layers, batch, hidden)``) are split into one state per layer (``h0``, ``c0``, ``h1``...); a
TCN's per-layer caches hold the last (k-1)*dilation input frames of each causal convolution.
Initial states are zeros. The names, dims and dtypes go into the ONNX metadata as the
architecture's "Streaming models" contract says.

Verification runs the step model chunk by chunk from zero state (chunk sizes 1, an odd size, and
one longer than the receptive field, or the whole sequence for a recurrent model) and matches the
concatenated outputs against ``forward_steps`` on the whole sequence in PyTorch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ortkit.exporter._errors import StreamingUnsupported
from ortkit.exporter._sources import ModelSource
from ortkit.exporter._verify import (
    structural_report,
    TOLERANCES,
    ParityRow,
    VerifyReport,
    _compare,
    _one_line,
    _warnings_as_text,
    open_session,
)
from ortkit.models import ModelSpec, TensorSpec

__all__ = ["check_streamable", "streaming_variant", "StateInfo", "STREAMING_FILE"]

STREAMING_FILE = "model.streaming.onnx"
_INTERFACE = ("forward_steps", "stream_states", "forward_stream")


@dataclass(frozen=True)
class StateInfo:
    """One state tensor of the step model. ``split_from`` names the model's stacked state (and
    ``layer`` its index) when a (layers, batch, ...) state was split into one per layer."""

    name: str
    dims: tuple[int | str, ...]
    dtype: str = "float32"
    split_from: str | None = None
    layer: int = 0

    @property
    def input(self) -> str:
        return f"{self.name}_in"

    @property
    def output(self) -> str:
        return f"{self.name}_out"

    def to_metadata(self) -> dict[str, Any]:
        return {"name": self.name, "input": self.input, "output": self.output, "dims": list(self.dims), "dtype": self.dtype}


def check_streamable(resolved: ModelSource) -> None:
    """Refuse, before any export work, a model that cannot be streamed.

    Raises:
        StreamingUnsupported: the model is not causal, or lacks the streaming interface.
    """
    spec = resolved.spec
    if not spec.causal:
        raise StreamingUnsupported(
            f"model {spec.name!r} is not causal (its output at a step depends on later steps), so it cannot "
            "be streamed; causal zoo models are " + ", ".join(_causal_zoo())
        )
    missing = [m for m in _INTERFACE if not callable(getattr(resolved.module, m, None))]
    if missing:
        raise StreamingUnsupported(
            f"model {spec.name!r} has no streaming interface (missing {', '.join(missing)}); a user model "
            "streams when it defines forward_steps, stream_states and forward_stream (see docs/exporter.md)"
        )
    if len(spec.inputs) != 1 or spec.inputs[0].dims[:2] != ("batch", "time"):
        raise StreamingUnsupported(f"model {spec.name!r} does not take one (batch, time, features) input")


def _causal_zoo() -> list[str]:
    from ortkit.models import get_spec, list_models

    return [n for n in list_models() if get_spec(n).causal]


def state_layout(module: Any) -> list[StateInfo]:
    """The step model's states: stacked recurrent states split per layer, others as they are."""
    states: list[StateInfo] = []
    for name, dims in module.stream_states():
        dims = tuple(dims)
        if len(dims) >= 2 and isinstance(dims[0], int) and dims[1] == "batch":
            states += [StateInfo(f"{name}{layer}", dims[1:], split_from=name, layer=layer) for layer in range(dims[0])]
        else:
            states.append(StateInfo(name, dims))
    return states


def receptive_field(module: Any, states: list[StateInfo]) -> int | None:
    """Frames of history that reach an output; None for a recurrent (unbounded) model."""
    if any(s.split_from for s in states):
        return None
    field = getattr(module, "receptive_field", None)
    if isinstance(field, int):
        return field
    return 1 + sum(int(s.dims[-1]) for s in states if isinstance(s.dims[-1], int))


def _step_module(module: Any, states: list[StateInfo]) -> Any:
    import torch

    groups: list[tuple[str, int]] = []  # (model state name, how many step-model states make it)
    for s in states:
        key = s.split_from or s.name
        if groups and groups[-1][0] == key and s.split_from:
            groups[-1] = (key, groups[-1][1] + 1)
        else:
            groups.append((key, 1))
    stacked = {s.split_from for s in states if s.split_from}

    class Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = module

        def forward(self, x: torch.Tensor, *flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
            given: list[torch.Tensor] = []
            i = 0
            for key, count in groups:
                given.append(torch.stack(list(flat[i:i + count]), 0) if key in stacked else flat[i])
                i += count
            y, *new = self.model.forward_stream(x, *given)
            outs = [y]
            for (key, _), state in zip(groups, new):
                outs += list(torch.unbind(state, 0)) if key in stacked else [state]
            return tuple(outs)

    return Step().eval()


def streaming_spec(spec: ModelSpec, states: list[StateInfo]) -> ModelSpec:
    x = spec.inputs[0]
    outputs = spec.outputs[0]
    y = TensorSpec(outputs.name, outputs.dtype, ("batch", "time", *outputs.dims[1:]))
    return dataclasses.replace(
        spec,
        inputs=(x, *[TensorSpec(s.input, s.dtype, s.dims) for s in states]),
        outputs=(y, *[TensorSpec(s.output, s.dtype, s.dims) for s in states]),
    )


def streaming_variant(ctx: Any) -> Any:
    """Export, verify and describe ``model.streaming.onnx`` (see the module docstring)."""
    from ortkit.exporter._export import file_sha256, write_metadata
    from ortkit.exporter._torch_export import export_one
    from ortkit.exporter._result import VariantResult
    from ortkit.runtime import metadata_props

    resolved: ModelSource = ctx.resolved
    check_streamable(resolved)
    module = resolved.module
    states = state_layout(module)
    spec = streaming_spec(resolved.spec, states)
    step = _step_module(module, states)
    path = ctx.staging / STREAMING_FILE
    batch, time = ctx.example
    export_one(ctx.exporter, step, spec, path, ctx.opset, batch, time)
    field = receptive_field(module, states)

    info = {"exporter": ctx.exporter, "opset": ctx.opset, "versions": ctx.versions, "source": resolved.describe(),
            "variant": "streaming"}
    spec_of = resolved.spec
    write_metadata(path, metadata_props(model=spec_of.name, family=spec_of.family, task=resolved.task, precision="fp32",
                                        spec_json=spec_of.to_json(), export=info, states=tuple(states), receptive_field=field))
    report = verify_streaming(path, module, spec, states, field, ctx.example)
    changes = {
        "states": [s.to_metadata() for s in states],
        "receptive_field": field,
        "output": "the head at every step: (batch, chunk, outputs); chunks concatenate to forward_steps",
        "initial_state": "zeros",
    }
    return VariantResult("streaming", path.name, file_sha256(path), report, changes)


def chunk_plan(field: int | None, example_time: int) -> tuple[int, list[tuple[str, int, int]]]:
    """(sequence length, [(label, batch, chunk)]) for the chunked parity runs."""
    if field is None:
        length = 4 * example_time + 5
        long_chunk = (f"chunk={length} (whole sequence)", 1, length)
    else:
        length = max(2 * field + 7, 4 * example_time + 5)
        long_chunk = (f"chunk={field + 2} (> receptive field {field})", 1, field + 2)
    return length, [("chunk=1", 2, 1), ("chunk=5 (odd)", 3, 5), long_chunk]


def verify_streaming(path: Path, module: Any, spec: ModelSpec, states: list[StateInfo], field: int | None,
                     example: tuple[int, int]) -> VerifyReport:
    from ortkit.runtime import random_feeds

    report = structural_report(path, spec, "streaming variant")
    length, plan = chunk_plan(field, example[1])
    tol = TOLERANCES["fp32"]
    with _warnings_as_text() as noise:
        try:
            session, open_error = open_session(path), ""
        except Exception as error:
            session, open_error = None, _one_line(error)
    for index, (label, batch, chunk) in enumerate(plan):
        x_spec = spec.inputs[0]
        x = random_feeds([("x", np.float32, (batch, length, *x_spec.dims[2:]))], seed=4321 + index)["x"]
        shapes = (("x", (batch, length)), ("chunk", (chunk,)))
        if session is None:
            report.parity.append(ParityRow(label, shapes, False, None, None, tol, f"onnxruntime cannot load the model: {open_error}"))
            continue
        with _warnings_as_text() as noise:
            try:
                got = _run_chunks(session, x, chunk, states, spec)
                run_error = ""
            except Exception as error:
                got, run_error = None, _one_line(error)
        if got is None:
            report.parity.append(ParityRow(label, shapes, False, None, None, tol, f"onnxruntime failed: {run_error}"))
            continue
        import torch

        with torch.no_grad():
            expected = module.forward_steps(torch.from_numpy(x)).float().numpy().astype(np.float64)
        row = _compare(label, shapes, [expected], [got], tol)
        if noise:
            row = ParityRow(label, shapes, False, row.max_abs, row.max_rel, tol, row.error or f"onnxruntime warned: {noise[0][:300]}")
        report.parity.append(row)
    return report


def _run_chunks(session: Any, x: np.ndarray, chunk: int, states: list[StateInfo], spec: ModelSpec) -> np.ndarray:
    batch = x.shape[0]
    current = {s.input: np.zeros([batch if d == "batch" else int(d) for d in s.dims], dtype=s.dtype) for s in states}
    outputs = [o.name for o in spec.outputs]
    pieces = []
    for start in range(0, x.shape[1], chunk):
        feeds = {spec.inputs[0].name: np.ascontiguousarray(x[:, start:start + chunk]), **current}
        result = dict(zip(outputs, session.run(outputs, feeds)))
        pieces.append(result[outputs[0]])
        current = {s.input: result[s.output] for s in states}
    return np.concatenate(pieces, axis=1)

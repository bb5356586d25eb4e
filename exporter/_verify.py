"""Verification that an exported file computes what the PyTorch model computes, at every shape.

torch 2.13's exporters can freeze or truncate the time axis of recurrent models while
``onnx.checker`` and ``torch.onnx.export(verify=True)`` pass (docs/exporter.md, "The exporter traps, caught"). What catches them,
and what runs here, is: the onnx full check; the declared shapes of inputs AND outputs keeping
every symbolic axis; an op inventory (fused recurrent nodes == the spec's layers, and the same
node count for an export at another example length); and onnxruntime parity with PyTorch at
several shapes, including time=1, a time and a batch other than the example's, and a time at
least 4x the example's. Anything onnxruntime logs at warning level or above while verifying counts
as a failure.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ortkit.exporter._checks import TOLERANCES, Check, ParityRow, Tolerance, VerifyReport
from ortkit.exporter._native_output import capture_native_stderr
from ortkit.models import TensorSpec

__all__ = [
    "Check",
    "ParityRow",
    "Tolerance",
    "TOLERANCES",
    "VerifyReport",
    "make_inputs",
    "dim_sizes",
    "named_dims",
    "flatten_outputs",
    "op_inventory",
    "parity_shapes",
    "check_declared",
    "run_parity",
    "open_session",
    "RECURRENT_OPS",
]

RECURRENT_OPS = frozenset({"RNN", "LSTM", "GRU", "DynamicQuantizeLSTM"})


def named_dims(specs: Sequence[TensorSpec]) -> list[str]:
    """Symbolic dim names other than ``batch`` and ``time`` (``H``, ``W``...), in order of appearance."""
    names: list[str] = []
    for spec in specs:
        for dim in spec.dims:
            if isinstance(dim, str) and dim not in ("batch", "time") and dim not in names:
                names.append(dim)
    return names


def dim_sizes(specs: Sequence[TensorSpec], batch: int, time: int) -> dict[str, int]:
    """Size of every symbolic dim for one run: ``batch``, ``time``, and each other named dim
    ``time + 1 + its index``, so that two named dims (an image's H and W) never have the same size
    and a swapped axis cannot pass unnoticed."""
    sizes = {"batch": batch, "time": time}
    for index, name in enumerate(named_dims(specs)):
        sizes[name] = time + 1 + index
    return sizes


def concrete_shape(spec: TensorSpec, sizes: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(sizes[d] if isinstance(d, str) else int(d) for d in spec.dims)


def is_lengths(spec: TensorSpec) -> bool:
    """An integer (batch,) input whose name says it holds sequence lengths (packed sequences)."""
    return spec.dtype.startswith("int") and spec.dims == ("batch",) and "len" in spec.name.lower()


def make_inputs(specs: Sequence[TensorSpec], batch: int, time: int, seed: int, int_high: int = 8) -> dict[str, np.ndarray]:
    """Deterministic random inputs of the given batch and time for a signature.

    Floats are standard normal; integers are uniform in [0, int_high) (token ids for an
    embedding), except a lengths input (see `is_lengths`), which gets valid sequence lengths in
    [1, time], sorted longest first with the longest equal to ``time``.
    """
    from ortkit.runtime import random_array  # the one random-feed generator (ortkit run, the profiler)

    rng = np.random.default_rng(seed)
    sizes = dim_sizes(specs, batch, time)
    feeds: dict[str, np.ndarray] = {}
    for spec in specs:
        shape = concrete_shape(spec, sizes)
        if spec.dtype.startswith("float") or spec.dtype == "bool":
            feeds[spec.name] = random_array(rng, spec.dtype, shape, name=spec.name)
        elif is_lengths(spec) and "time" in sizes:
            lengths = np.sort(rng.integers(1, time + 1, shape))[::-1].copy()
            lengths[0] = time
            feeds[spec.name] = lengths.astype(spec.dtype)
        else:
            feeds[spec.name] = random_array(rng, spec.dtype, shape, int_high=int_high, name=spec.name)
    return feeds


def flatten_outputs(out: Any) -> list[Any]:
    """A module's outputs as a flat list of tensors (tuples, lists and dicts flattened in order)."""
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in flatten_outputs(item)]
    if isinstance(out, Mapping):
        return [t for item in out.values() for t in flatten_outputs(item)]
    return [out]


def has_time(specs: Sequence[TensorSpec]) -> bool:
    return any("time" in s.dims for s in specs)


def parity_shapes(specs: Sequence[TensorSpec], batch: int, time: int) -> list[tuple[str, int, int]]:
    """(label, batch, time) for the parity runs: the example, time=1, another time, another batch
    and a long time (>= 4x the example) for sequence inputs; for inputs with other named dims
    (an image's H, W) the example, other sizes, another batch and large sizes; four batch sizes
    otherwise. The ``time`` of a row also sizes the other named dims (see `dim_sizes`)."""
    if has_time(specs):
        return [
            ("example", batch, time),
            ("time=1", batch, 1),
            ("other time", batch, time + 7),
            ("other batch", batch + 3, time),
            ("long time", 1, 4 * time + 5),
        ]
    if named_dims(specs):
        return [
            ("example", batch, time),
            ("other size", batch, time + 7),
            ("other batch", batch + 3, time),
            ("large size", 1, 4 * time + 5),
        ]
    return [("example", batch, time), ("batch=1", 1, time), ("other batch", batch + 3, time), ("large batch", 4 * batch + 1, time)]


def op_inventory(model: Any) -> Counter[str]:
    """op_type -> node count, subgraphs (Loop, Scan, If bodies) included."""
    counts: Counter[str] = Counter()

    def visit(graph: Any) -> None:
        for node in graph.node:
            counts[node.op_type] += 1
            for attr in node.attribute:
                if attr.g is not None and attr.HasField("g"):
                    visit(attr.g)
                for sub in attr.graphs:
                    visit(sub)

    visit(model.graph)
    return counts


def _declared_dims(value_info: Any) -> list[int | str | None]:
    dims: list[int | str | None] = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def check_declared(kind: str, declared: Sequence[Any], specs: Sequence[TensorSpec]) -> Check:
    """Names, ranks and dims of the graph's inputs or outputs against the spec: a spec's symbolic
    axis must stay symbolic (a fixed number there is the frozen-axis trap), a fixed one must match."""
    problems: list[str] = []
    by_name = {v.name: v for v in declared}
    wanted = [s.name for s in specs]
    if sorted(by_name) != sorted(wanted):
        problems.append(f"names {sorted(by_name)} != expected {sorted(wanted)}")
    for spec in specs:
        info = by_name.get(spec.name)
        if info is None:
            continue
        dims = _declared_dims(info)
        if len(dims) != len(spec.dims):
            problems.append(f"{spec.name} has rank {len(dims)}, expected {len(spec.dims)}")
            continue
        for axis, (got, want) in enumerate(zip(dims, spec.dims)):
            if isinstance(want, str) and not isinstance(got, str):
                problems.append(f"{spec.name} axis {axis} ({want}) declared as {got if got is not None else 'unknown'}, not symbolic")
            elif isinstance(want, int) and isinstance(got, int) and got != want:
                problems.append(f"{spec.name} axis {axis} declared {got}, expected {want}")
    shown = "; ".join(f"{v.name}{_declared_dims(v)}" for v in declared)
    return Check(f"declared {kind}", not problems, "; ".join(problems) if problems else shown)


def open_session(path: str | Path, providers: Sequence[str] = ("CPUExecutionProvider",), level: Any = None) -> Any:
    """An InferenceSession that logs warnings and up (to be captured), one intra-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 2  # warnings and errors reach stderr, where they are captured
    options.intra_op_num_threads = 1
    if level is not None:
        options.graph_optimization_level = level
    return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))


def run_parity(
    path: str | Path,
    reference: Callable[[dict[str, np.ndarray]], list[np.ndarray]],
    inputs: Sequence[TensorSpec],
    shapes: Sequence[tuple[str, int, int]],
    tolerance: Tolerance,
    *,
    feed_dtype: Mapping[str, str] | None = None,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    seed: int = 1234,
    input_maker: Callable[[int, int, int], dict[str, np.ndarray]] | None = None,
    int_high: int = 8,
) -> list[ParityRow]:
    """Compare onnxruntime on ``path`` against ``reference`` at each (label, batch, time).

    A session that cannot be created, a run that raises, a shape or count mismatch, a NaN where
    the reference has none, and any onnxruntime warning are failures with the reason recorded.
    ``input_maker(batch, time, seed)`` replaces the random normal inputs (e.g. with task data);
    ``int_high`` bounds random integer inputs (an embedding's vocabulary).
    """
    rows: list[ParityRow] = []
    with _warnings_as_text() as noise:
        try:
            session = open_session(path, providers)
            open_error = ""
        except Exception as error:
            session, open_error = None, _one_line(error)
    load_warning = noise[0] if noise else None
    for index, (label, batch, time) in enumerate(shapes):
        feeds = input_maker(batch, time, seed + index) if input_maker else make_inputs(inputs, batch, time, seed + index, int_high)
        shape_key = tuple((k, tuple(v.shape)) for k, v in feeds.items())

        def fail(reason: str) -> ParityRow:
            return ParityRow(label, shape_key, False, None, None, tolerance, reason)

        if session is None:
            rows.append(fail(f"onnxruntime cannot load the model: {open_error}"))
            continue
        try:
            expected = [np.asarray(e, dtype=np.float64) for e in reference(feeds)]
        except Exception as error:
            rows.append(fail(f"reference failed: {_one_line(error)}"))
            continue
        ort_feeds = {k: v.astype(feed_dtype[k]) if feed_dtype and k in feed_dtype else v for k, v in feeds.items()}
        with _warnings_as_text() as noise:
            try:
                got = session.run(None, ort_feeds)
            except Exception as error:
                got, run_error = None, _one_line(error)
        if got is None:
            rows.append(fail(f"onnxruntime failed: {run_error}"))
            continue
        row = _compare(label, shape_key, expected, got, tolerance)
        warned = load_warning or (noise[0] if noise else None)
        if warned:
            # A warning means onnxruntime tolerated something it should not have to (a declared
            # shape the output does not have, a dropped initializer, an EP fallback): a failure.
            row = ParityRow(label, shape_key, False, row.max_abs, row.max_rel, tolerance,
                            row.error or f"onnxruntime warned: {warned[:300]}")
        rows.append(row)
    return rows


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@contextlib.contextmanager
def _warnings_as_text() -> Iterator[list[str]]:
    """onnxruntime's native log lines and Python warnings raised meanwhile, as one-line texts."""
    texts: list[str] = []
    with capture_native_stderr() as native, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield texts
    texts.extend(_one_line(_ANSI.sub("", line)) for line in native)
    texts.extend(_one_line(w.message) for w in caught if "onnxruntime" in (w.filename or ""))


def _compare(label: str, shapes: Any, expected: list[np.ndarray], got: list[Any], tol: Tolerance) -> ParityRow:
    if len(expected) != len(got):
        return ParityRow(label, shapes, False, None, None, tol, f"{len(got)} outputs, reference has {len(expected)}")
    worst_abs = worst_rel = 0.0
    for i, (e, g) in enumerate(zip(expected, got)):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != e.shape:
            return ParityRow(label, shapes, False, None, None, tol, f"output {i} has shape {list(g.shape)}, reference {list(e.shape)}")
        if np.isnan(g).any() and not np.isnan(e).any():
            return ParityRow(label, shapes, False, None, None, tol, f"output {i} has NaN where the reference has none")
        diff = np.abs(g - e)
        if diff.size:
            worst_abs = max(worst_abs, float(np.nanmax(diff)))
            worst_rel = max(worst_rel, float(np.nanmax(diff / (np.abs(e) + 1e-6))))
            atol = tol.atol_for(e)
            if not bool(np.all(diff <= atol + tol.rtol * np.abs(e))):
                return ParityRow(label, shapes, False, worst_abs, worst_rel, tol, f"max abs err {worst_abs:.3g} exceeds atol {atol:.3g} + rtol {tol.rtol:g}")
    return ParityRow(label, shapes, True, worst_abs, worst_rel, tol)


def _one_line(error: object) -> str:
    text = " ".join(str(error).split())
    return text[:400] if text else type(error).__name__


def full_check(path: str | Path) -> Check:
    """onnx.checker with full_check (type and shape inference)."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as error:
        return Check("onnx checker", False, _one_line(error))
    return Check("onnx checker", True, "full_check passed")


def inventory_checks(inventory: Mapping[str, int], expected_recurrent: int, other_length: tuple[int, int, int] | None) -> list[Check]:
    """Fused recurrent node count against the spec, and the node count at another example length.

    ``other_length`` is (node count of this export, node count of the export at another
    example time, that time), or None when the model has no time axis."""
    checks: list[Check] = []
    fused = sum(n for op, n in inventory.items() if op in RECURRENT_OPS)
    unrolled = {op: n for op, n in inventory.items() if op in {"Loop", "Scan"}}
    detail = f"{fused} fused RNN/LSTM/GRU node(s), spec says {expected_recurrent}"
    if unrolled:
        detail += f"; also {unrolled}"
    checks.append(Check("fused recurrent nodes", fused == expected_recurrent and not (expected_recurrent and unrolled), detail))
    if other_length is not None:
        here, there, time = other_length
        checks.append(Check(
            "node count at two example lengths", here == there,
            f"{here} nodes; {there} when exported at time={time}" + ("" if here == there else " (the time axis is unrolled or baked in)"),
        ))
    return checks


def structural_report(path: str | Path, spec: Any, label: str, *, checker: bool = True) -> VerifyReport:
    """The checks every exported file gets before parity: onnx's full check (``checker``), declared
    input and output shapes keep the spec's symbolic axes, and the op inventory (fused recurrent
    nodes == the spec's recurrent layers)."""
    import onnx

    report = VerifyReport(label)
    if checker:
        report.checks.append(full_check(path))
    model = onnx.load(str(path), load_external_data=False)
    report.checks.append(check_declared("inputs", model.graph.input, spec.inputs))
    report.checks.append(check_declared("outputs", model.graph.output, spec.outputs))
    report.inventory = dict(op_inventory(model))
    report.checks += inventory_checks(report.inventory, spec.recurrent_layers, None)
    return report


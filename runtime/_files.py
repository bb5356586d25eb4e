"""Run a model on inputs from .npy files or random data and save the outputs (``ortkit run``)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ortkit.base import UsageError
from ortkit.runtime._feeds import random_array
from ortkit.runtime._errors import InputError
from ortkit.runtime._inputs import ORT_TO_NUMPY, TensorInfo

__all__ = ["RunSummary", "ValueSummary", "check_shape_names", "parse_shapes", "parse_providers", "run_model_files", "random_inputs", "MAX_RANDOM_BYTES"]

# Random inputs larger than this are refused: a typo in --shape should not exhaust the memory.
MAX_RANDOM_BYTES = 2 * 2**30


@dataclass(frozen=True)
class ValueSummary:
    """A short look at one output's values: what ``ortkit run --print`` shows."""

    min: float | None
    max: float | None
    mean: float | None
    first: tuple[Any, ...]
    nan: int = 0

    @classmethod
    def of(cls, array: np.ndarray, count: int = 6) -> ValueSummary:
        flat = np.asarray(array).reshape(-1)
        first = tuple(v.item() if hasattr(v, "item") else v for v in flat[:count])
        if flat.size == 0 or flat.dtype.kind not in "biuf":
            return cls(None, None, None, first)
        values = flat.astype(np.float64)
        finite = values[~np.isnan(values)]
        nan = int(values.size - finite.size)
        if finite.size == 0:
            return cls(None, None, None, first, nan)
        return cls(float(finite.min()), float(finite.max()), float(finite.mean()), first, nan)

    def text(self) -> str:
        first = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in self.first)
        if self.min is None:
            return f"[{first}{', ...' if self.first else ''}]" + (f" ({self.nan} NaN)" if self.nan else "")
        nan = f" nan={self.nan}" if self.nan else ""
        return f"min={self.min:.6g} max={self.max:.6g} mean={self.mean:.6g}{nan} first=[{first}]"

    def to_dict(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "mean": self.mean, "nan": self.nan, "first": list(self.first)}


@dataclass(frozen=True)
class RunSummary:
    providers: list[str]
    inputs: dict[str, tuple[str, tuple[int, ...], str]]  # name -> (dtype, shape, source)
    outputs: dict[str, tuple[str, tuple[int, ...]]]
    output_path: Path | None
    seconds: float
    values: dict[str, ValueSummary] | None = None  # with keep_values=True
    tuned: str | None = None  # the tuned profile's choice that ran (`TunedChoice.describe`)

    def lines(self) -> list[str]:
        out = [f"providers  {', '.join(self.providers)}"]
        if self.tuned is not None:
            out.append(f"tuned      {self.tuned}")
        out += [f"input      {n}: {d} {s} from {src}" for n, (d, s, src) in self.inputs.items()]
        out += [f"output     {n}: {d} {s}" for n, (d, s) in self.outputs.items()]
        out += [f"values     {n}: {v.text()}" for n, v in (self.values or {}).items()]
        out.append(f"run took   {self.seconds * 1e3:.2f} ms")
        if self.output_path is not None:
            out.append(f"saved      {self.output_path}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "providers": list(self.providers),
            "inputs": {n: {"dtype": d, "shape": list(s), "source": src} for n, (d, s, src) in self.inputs.items()},
            "outputs": {n: {"dtype": d, "shape": list(s), **({"values": self.values[n].to_dict()} if self.values else {})}
                        for n, (d, s) in self.outputs.items()},
            "output_path": str(self.output_path) if self.output_path else None,
            "seconds": self.seconds,
            "tuned": self.tuned,
        }


def parse_shapes(options: Sequence[str]) -> dict[str, tuple[int, ...] | int]:
    """``["x=1,16,8", "time=100"]`` -> ``{"x": (1, 16, 8), "time": 100}``: a name with one number is
    a symbolic dim or a 1-D input (resolved by `random_inputs`)."""
    shapes: dict[str, tuple[int, ...] | int] = {}
    for option in options:
        name, sep, dims = option.partition("=")
        if name in shapes:
            raise UsageError(f"--shape {name} is given twice; give each input or symbol once")
        try:
            values = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
        except ValueError:
            values = ()
        if not sep or not name or not values or any(v < 0 for v in values):
            raise UsageError(f"--shape {option!r}: expected NAME=D0,D1,... (an input) or SYMBOL=N (a symbolic dim)")
        shapes[name] = values[0] if len(values) == 1 and "," not in dims else values
    return shapes


def random_inputs(
    infos: Sequence[TensorInfo],
    shapes: Mapping[str, Sequence[int] | int],
    seed: int = 0,
    names: Sequence[str] | None = None,
    *,
    unnamed: int | None = None,
    max_bytes: int = MAX_RANDOM_BYTES,
) -> dict[str, np.ndarray]:
    """Random arrays for the named inputs (all by default) at the given or declared shapes.

    ``unnamed`` sizes dynamic dims that have no name (otherwise they must be given). Each array,
    and all of them together, may take at most ``max_bytes``.

    Raises:
        UsageError: a shape is missing, malformed or too large.
    """
    rng = np.random.default_rng(seed)
    total = 0
    symbols = {k: v for k, v in shapes.items() if isinstance(v, int)}
    # A shape given for one input fixes its symbolic dims for the others ("batch" in x and h).
    for info in infos:
        given = shapes.get(info.name)
        if given is not None and not isinstance(given, int) and len(given) == info.rank:
            for dim, size in zip(info.dims, given):
                if isinstance(dim, str):
                    symbols.setdefault(dim, int(size))
    arrays: dict[str, np.ndarray] = {}
    for info in infos:
        if names is not None and info.name not in names:
            continue
        given = shapes.get(info.name)
        if isinstance(given, int):
            given = (given,)
        if given is None and not info.ranked:
            raise UsageError(f"input {info.name!r} declares no shape: give --shape {info.name}=D0,D1,...")
        if given is not None:
            shape = tuple(int(d) for d in given)
            if info.ranked and len(shape) != info.rank:
                raise UsageError(f"--shape {info.name}: the input has rank {info.rank} {info.shape_text()}, got {len(shape)} dims")
        else:
            dims = []
            for axis, dim in enumerate(info.dims):
                if isinstance(dim, int):
                    dims.append(dim)
                elif isinstance(dim, str) and dim in symbols:
                    dims.append(symbols[dim])
                elif dim is None and unnamed is not None:
                    dims.append(unnamed)
                else:
                    raise UsageError(
                        f"input {info.name!r} dim {axis} ({dim or '?'}) is symbolic: give --shape "
                        f"{info.name}={','.join(str(d) if isinstance(d, int) else '1' for d in info.dims)}"
                        + (f" or --shape {dim}=N" if dim else "")
                    )
            shape = tuple(dims)
        if any(d < 0 for d in shape):
            raise UsageError(f"input {info.name!r}: shape {shape} has a negative dim; give --shape {info.name}=D0,D1,...")
        kind = np.dtype(info.dtype).kind if info.dtype in _NUMPY_DTYPES else "O"
        if kind != "O":
            nbytes = int(np.prod(shape, dtype=object)) * np.dtype(info.dtype).itemsize
            total += nbytes
            if nbytes > max_bytes or total > max_bytes:
                what = "would take" if nbytes > max_bytes else "would bring the random inputs to"
                raise UsageError(
                    f"input {info.name!r}: a random {info.dtype} array of shape {shape} {what} "
                    f"{max(nbytes, total) / 2**30:.1f} GiB (limit {max_bytes / 2**30:g} GiB); give a smaller "
                    "--shape or a .npy file"
                )
        if kind == "O":
            raise UsageError(f"input {info.name!r} has dtype {info.dtype}: give it as a .npy file")
        arrays[info.name] = random_array(rng, info.dtype, shape, name=info.name)
    return arrays


def parse_providers(text: str | Sequence[str]) -> str | list[str]:
    """``"cuda+cpu"`` (the CLI's ``--ep`` for one session) -> ``["cuda", "cpu"]``; one spec stays a
    string. The older ``"cuda,cpu"`` reads the same."""
    if not isinstance(text, str):
        return list(text)
    parts = [p.strip() for p in text.replace(",", "+").split("+")]
    if len(parts) == 1:
        return parts[0]
    if not all(parts):
        raise UsageError(f"--ep {text!r}: an empty spec in the list; write e.g. --ep cuda+cpu")
    return parts


def check_shape_names(infos: Sequence[TensorInfo], shapes: Mapping[str, Sequence[int] | int]) -> None:
    """Refuse a ``--shape`` name that is neither an input nor one of the model's symbolic dims.

    Raises:
        UsageError: naming the model's own inputs and dim names.
    """
    inputs = [i.name for i in infos]
    symbols = sorted({d for i in infos for d in i.dims if isinstance(d, str) and d})
    for name, value in shapes.items():
        if name in inputs or (isinstance(value, int) and name in symbols):
            continue
        dims = f"symbolic dims: {', '.join(symbols)}" if symbols else "no symbolic dims"
        raise UsageError(f"--shape {name}: the model has no input or symbolic dim of that name (inputs: {', '.join(inputs)}; {dims})")


def run_model_files(
    model: str | os.PathLike[str],
    inputs: Sequence[str],
    shapes: Sequence[str] = (),
    providers: str | Sequence[str] = "auto",
    output: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    cast: bool = False,
    ep_library: Mapping[str, str] | None = None,
    isolate: bool = False,
    threads: int | None = None,
    keep_values: bool = False,
    tuned: str | os.PathLike[str] | None = None,
) -> RunSummary:
    """Run ``model`` once. ``inputs`` are ``NAME=path.npy`` or ``NAME=random`` (a bare path or
    ``random`` for a single-input model); inputs not named are random. Outputs go to ``output``
    (``.npz``) when given; with ``keep_values`` the summary holds a `ValueSummary` per output.
    ``isolate`` runs onnxruntime in a child process (see `Runtime`). ``tuned``: a tuned profile
    whose choice for the ``batch`` / ``time`` given in ``shapes`` runs (EP and threads then stay
    unset)."""
    from ortkit.runtime._runtime import Runtime

    if tuned is not None:
        if providers != "auto" or threads is not None:
            raise UsageError("--tuned sets the EP and the threads; do not pass --ep or --threads with it")
        symbols = parse_shapes(shapes)
        batch, time_ = symbols.get("batch"), symbols.get("time")
        shape = (batch, time_ if isinstance(time_, int) else None) if isinstance(batch, int) else None
        with Runtime(model, tuned=tuned, tuned_shape=shape, ep_library=ep_library, isolate=isolate) as rt:
            summary = _run_once(rt, inputs, shapes, output, seed, cast, keep_values)
            return replace(summary, tuned=rt.tuned.describe() if rt.tuned else None)
    with Runtime(model, parse_providers(providers), threads, ep_library=ep_library, isolate=isolate) as rt:
        return _run_once(rt, inputs, shapes, output, seed, cast, keep_values)


def _run_once(
    rt: Any, inputs: Sequence[str], shapes: Sequence[str], output: str | os.PathLike[str] | None, seed: int, cast: bool,
    keep_values: bool,
) -> RunSummary:
    names = [i.name for i in rt.inputs]
    sources: dict[str, str] = {}
    for option in inputs:
        name, sep, source = option.partition("=")
        if not sep:
            if len(names) != 1:
                raise UsageError(f"--input {option!r}: the model takes {', '.join(names)}; write NAME=path.npy or NAME=random")
            name, source = names[0], option
        if name not in names:
            raise UsageError(f"--input {option!r}: no input named {name!r}; the model takes {', '.join(names)}")
        if name in sources:
            raise UsageError(f"--input {name} is given twice; give each input once")
        sources[name] = source
    shape_map = parse_shapes(shapes)
    check_shape_names(rt.inputs, shape_map)
    feed: dict[str, Any] = {}
    for name in names:
        source = sources.get(name, "random")
        if source != "random":
            feed[name] = _load_npy(name, source)
    random_names = [n for n in names if n not in feed]
    loaded = {n: tuple(a.shape) for n, a in feed.items()}
    feed.update(random_inputs(rt.inputs, {**loaded, **shape_map}, seed, random_names))
    # A streaming export starts from a zero state (docs/architecture.md): random state would be
    # an input no stream ever sees.
    for name in _state_inputs(rt):
        if name in random_names:
            feed[name] = np.zeros_like(feed[name])
            sources[name] = "zeros (initial state)"
    start = time.perf_counter()
    result = rt.run(feed, cast=cast)
    seconds = time.perf_counter() - start
    out_path = None
    if output is not None:
        out_path = Path(output)
        if out_path.suffix != ".npz":
            out_path = out_path.with_name(out_path.name + ".npz")
        try:
            np.savez(out_path, **result)
        except OSError as error:
            raise UsageError(f"--out {output}: cannot write: {error.strerror or error}") from None
    return RunSummary(
        providers=rt.providers,
        inputs={n: (str(feed[n].dtype), tuple(feed[n].shape), sources.get(n, "random")) for n in names},
        outputs={n: (str(v.dtype), tuple(v.shape)) for n, v in result.items()},
        output_path=out_path,
        seconds=seconds,
        values={n: ValueSummary.of(v) for n, v in result.items()} if keep_values else None,
    )


def _state_inputs(rt: Any) -> list[str]:
    from ortkit.runtime._errors import NotStreamable
    from ortkit.runtime._stream import streaming_states

    try:
        return [state.input for state in streaming_states(rt)]
    except NotStreamable:
        return []


_NUMPY_DTYPES = frozenset(ORT_TO_NUMPY.values()) - {"object"}


def _load_npy(name: str, source: str) -> np.ndarray:
    try:
        array = np.load(source, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"input {name!r}: no such file {source}") from None
    except (OSError, ValueError, EOFError) as error:
        raise InputError(f"input {name!r}: {source} is not a readable .npy file ({error})") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"input {name!r}: {source} holds several arrays (.npz); give one .npy per input")
    return array

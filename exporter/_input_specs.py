"""The input signature a user gives for a model: ``NAME:DTYPE:DIM,DIM,...`` strings, checked."""

from __future__ import annotations

import re
from typing import Sequence

from ortkit.base import UsageError
from ortkit.models import TensorSpec

SYMBOLIC_DIMS = ("batch", "time")
_DTYPES = ("float32", "float16", "float64", "int64", "int32", "bool")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_DIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Bounds that keep a typo (or a hostile spec) from asking for terabytes of random input.
# Names people use for the batch and time axes: refused with the canonical name, since only
# "batch" and "time" get their own parity shapes (time=1, 4x time...).
_ALIASES = {**{n: "batch" for n in ("b", "n", "bs", "batch_size", "batchsize", "nbatch")},
            **{n: "time" for n in ("t", "seq", "seq_len", "seqlen", "sequence", "sequence_length", "length",
                                   "len", "steps", "timesteps", "time_steps", "frames")}}
MAX_RANK = 8
MAX_FIXED_DIM = 1 << 20
MAX_EXAMPLE_ELEMENTS = 1 << 26



def parse_input_spec(text: str) -> TensorSpec:
    """Parse ``NAME:DTYPE:DIM,DIM,...`` (``x:float32:batch,time,64``) into a `TensorSpec`.

    A dim is a positive integer or a symbolic name: ``batch``, ``time``, or any other identifier
    (``x:float32:batch,3,H,W`` for an image of any height and width).

    Raises:
        UsageError: a malformed spec (the message shows the expected form).
    """
    form = "expected NAME:DTYPE:DIM,DIM,... such as x:float32:batch,time,64"
    if not isinstance(text, str):
        raise UsageError(f"bad input spec {text!r}: {form}")
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"bad --input-spec {text!r}: {form}")
    name, dtype, dims_text = parts
    if not _NAME.match(name):
        raise UsageError(f"bad --input-spec {text!r}: {name!r} is not a valid tensor name; {form}")
    if dtype not in _DTYPES:
        raise UsageError(f"bad --input-spec {text!r}: dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
    dims: list[int | str] = []
    for dim in dims_text.split(","):
        dim = dim.strip()
        if dim.isascii() and dim.isdigit() and 1 <= int(dim) <= MAX_FIXED_DIM:
            dims.append(int(dim))
        elif dim.isascii() and dim.isdigit():
            raise UsageError(f"bad --input-spec {text!r}: dim {dim} is outside 1..{MAX_FIXED_DIM}")
        elif dim.lower() in _ALIASES:
            raise UsageError(
                f"bad --input-spec {text!r}: write {_ALIASES[dim.lower()]!r} for the {_ALIASES[dim.lower()]} axis, not {dim!r} "
                "(ortkit verifies the axes named batch and time at the sizes that matter for them)"
            )
        elif _DIM_NAME.match(dim):
            dims.append(dim)
        else:
            raise UsageError(
                f"bad --input-spec {text!r}: dim {dim!r} must be a positive integer or a symbolic name "
                f"(batch, time, or another identifier such as H)"
            )
    if len(dims) > MAX_RANK:
        raise UsageError(f"bad --input-spec {text!r}: rank {len(dims)} is more than {MAX_RANK}")
    if dims.count("batch") > 1 or dims.count("time") > 1:
        raise UsageError(f"bad --input-spec {text!r}: 'batch' and 'time' may each appear once")
    return TensorSpec(name, dtype, tuple(dims))


def parse_input_specs(items: Sequence[str | TensorSpec]) -> list[TensorSpec]:
    """Parse several input specs; names must be unique.

    Raises:
        UsageError: a malformed spec, a duplicate name, or a signature whose example is too large.
    """
    specs = [parse_input_spec(s) if isinstance(s, str) else s for s in items]
    for spec in specs:
        if not isinstance(spec, TensorSpec):
            raise UsageError(f"bad input spec {spec!r}: expected NAME:DTYPE:DIM,... or a TensorSpec")
    names = [s.name for s in specs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UsageError(f"--input-spec name {', '.join(map(repr, duplicated))} given more than once; each input needs its own name")
    return specs


def check_example_size(specs: Sequence[TensorSpec], batch: int, time: int) -> None:
    """Refuse a signature whose largest verification input would not fit in memory.

    Raises:
        UsageError: more than `MAX_EXAMPLE_ELEMENTS` elements at the long-time parity shape.
    """
    from ortkit.exporter._verify import concrete_shape, dim_sizes

    sizes = dim_sizes(specs, max(batch + 3, 4 * batch + 1), 4 * time + 5)
    total = 0
    for spec in specs:
        count = 1
        for n in concrete_shape(spec, sizes):
            count *= n
        total += count
    if total > MAX_EXAMPLE_ELEMENTS:
        raise UsageError(
            f"the inputs {', '.join(s.name for s in specs)} would need {total:,} elements at the largest "
            f"verification shape (limit {MAX_EXAMPLE_ELEMENTS:,}); use smaller fixed dims or --example-time"
        )



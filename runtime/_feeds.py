"""Random input arrays: the one generator behind ``ortkit run``'s random inputs, the profiler's
feeds and the exporter's parity inputs, so the same seed means the same data everywhere.

Draws come from one ``numpy.random.Generator`` in input order: floats standard normal, integers
uniform in ``[0, int_high)`` (token ids), booleans fair coins. ``int_high=None`` gives zeros for
integer and boolean inputs (lengths, masks and states that must stay valid whatever the shape).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import numpy as np

from ortkit.base import UsageError

__all__ = ["random_array", "random_feeds"]


def random_array(rng: np.random.Generator, dtype: str | np.dtype, shape: Sequence[int], *, int_high: int | None = 10,
                 name: str = "input") -> np.ndarray:
    """One C-contiguous random array of ``dtype`` and ``shape`` drawn from ``rng``.

    Raises:
        UsageError: a dtype with no random values (strings, objects): give such an input as a file.
    """
    kind = np.dtype(dtype).kind
    shape = tuple(int(d) for d in shape)
    if kind == "f":
        return np.ascontiguousarray(rng.standard_normal(shape).astype(dtype))
    if kind in "iub" and int_high is None:
        return np.zeros(shape, dtype=dtype)
    if kind in "iu":
        return rng.integers(0, max(int(int_high or 1), 1), size=shape).astype(dtype)
    if kind == "b":
        return rng.random(shape) < 0.5
    raise UsageError(f"input {name!r} has dtype {np.dtype(dtype)}: give it as a .npy file")


def random_feeds(inputs: Iterable[tuple[str, str | np.dtype, Sequence[int]]], *, seed: int = 0, zero: Collection[str] = (),
                 int_high: int | None = 10) -> dict[str, np.ndarray]:
    """``{name: array}`` for ``(name, dtype, shape)`` triples, drawn in order from one generator
    seeded with ``seed``; names in ``zero`` get zeros (the initial state of a streaming export)."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for name, dtype, shape in inputs:
        if name in zero:
            feeds[name] = np.zeros(tuple(int(d) for d in shape), dtype=dtype)
        else:
            feeds[name] = random_array(rng, dtype, shape, int_high=int_high, name=name)
    return feeds

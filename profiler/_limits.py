"""Resource bounds of a sweep, checked in the parent before a worker starts.

A typo (``--batch 1000000000``, ``threads = 100000`` in a sweep file) must fail in a second with
one line, not after minutes of allocating; and a model that asks for more memory than the machine
has must end its own worker, recorded as "out of memory", never the host or the sweep.

- Threads: at most `THREADS_PER_CORE` (the runtime's bound) per usable core, unless the caller
  passes a higher ``max_threads``.
- Generated inputs: at most the runtime's `MAX_RANDOM_BYTES` per configuration (each input and
  all of them together), as `ortkit run` allows.
- Worker memory: each worker's address space is limited (``RLIMIT_AS``, set by the worker itself
  before it imports onnxruntime) to the machine's physical memory by default, or to
  ``ORTKIT_WORKER_MEMORY`` (``8GiB``, ``512MiB``, ``off``). Device EPs (CUDA, TensorRT, ROCm,
  MIGraphX) reserve address space far beyond what they use, so no default limit applies to
  them; an explicit ``ORTKIT_WORKER_MEMORY`` still does.
"""

from __future__ import annotations

import math
import os
import re
from typing import Mapping, Sequence

from ortkit.base import UsageError

__all__ = [
    "MEMORY_ENV", "LIMIT_ENV", "check_threads", "check_feed_bytes", "thread_limit", "worker_memory_limit",
    "apply_memory_limit", "out_of_memory", "parse_bytes",
]

#: the user's setting for every worker's memory limit
MEMORY_ENV = "ORTKIT_WORKER_MEMORY"
#: what the parent hands one worker: the limit in bytes (absent: none)
LIMIT_ENV = "ORTKIT_WORKER_RLIMIT_AS"

_DEVICE_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider", "ROCMExecutionProvider", "MIGraphXExecutionProvider")
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}
# What onnxruntime, numpy and the C++ runtime say when an allocation is refused.
_OOM_TEXT = re.compile(r"bad_alloc|MemoryError|Failed to allocate memory|Cannot allocate memory|out of memory|Unable to allocate", re.I)


def thread_limit(max_threads: int | None = None) -> int:
    """The most intra-op threads a configuration may ask for."""
    from ortkit.runtime import THREADS_PER_CORE, usable_cores

    return max_threads if max_threads is not None else THREADS_PER_CORE * usable_cores()


def check_threads(threads: Sequence[int | None], max_threads: int | None = None) -> None:
    """Raises UsageError for a thread count above `thread_limit`."""
    limit = thread_limit(max_threads)
    too_many = [t for t in threads if t is not None and t > limit]
    if too_many:
        raise UsageError(
            f"{max(too_many)} threads is more than {limit} (4 per usable core); more threads than cores only "
            "contend and cost memory: give fewer (or max_threads= to profile() to allow it)"
        )


def check_feed_bytes(label: str, shapes: Mapping[str, tuple[int, ...]], dtypes: Mapping[str, str]) -> None:
    """Raises UsageError when the random inputs of one configuration would be too large."""
    import numpy as np
    from ortkit.runtime import MAX_RANDOM_BYTES

    total = 0
    for name, shape in shapes.items():
        try:
            itemsize = np.dtype(dtypes[name]).itemsize
        except (TypeError, KeyError):
            itemsize = 8  # an unknown type: counted at the widest numeric size
        nbytes = math.prod(shape) * itemsize
        total += nbytes
        if total > MAX_RANDOM_BYTES:
            raise UsageError(
                f"{label}: the inputs of shape {dict(shapes)} would take {total / 2**30:.1f} GiB "
                f"(limit {MAX_RANDOM_BYTES / 2**30:g} GiB per configuration); give a smaller --batch or --time"
            )


def parse_bytes(text: str) -> int | None:
    """``"8GiB"`` -> 8 * 2**30; ``"off"`` / ``"none"`` -> None.

    Raises:
        UsageError: anything else.
    """
    value = text.strip().lower().replace(" ", "")
    if value in ("off", "none", "0", "unlimited"):
        return None
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]*)", value)
    if not found or found.group(2) not in _UNITS:
        raise UsageError(f"{MEMORY_ENV}={text!r} is not a size; use e.g. 8GiB, 512MiB or off")
    size = int(float(found.group(1)) * _UNITS[found.group(2)])
    if size < 64 * 2**20:
        raise UsageError(f"{MEMORY_ENV}={text!r} is below 64 MiB: no worker can start under it")
    return size


def worker_memory_limit(ep: str, environ: Mapping[str, str] | None = None) -> int | None:
    """The address-space limit (bytes) of a worker measuring on ``ep``, or None for none."""
    environ = os.environ if environ is None else environ
    setting = environ.get(MEMORY_ENV)
    if setting is not None and setting.strip():
        return parse_bytes(setting)
    from ortkit.runtime import provider_name

    if (provider_name(ep) or "") in _DEVICE_PROVIDERS:
        return None
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def apply_memory_limit(environ: Mapping[str, str] | None = None) -> int | None:
    """In a worker: set ``RLIMIT_AS`` to what the parent asked for (never above an existing
    hard limit); returns the limit applied."""
    environ = os.environ if environ is None else environ
    text = environ.get(LIMIT_ENV)
    if not text:
        return None
    try:
        import resource

        limit = int(text)
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        return limit
    except (ImportError, ValueError, OSError):
        return None  # a platform without RLIMIT_AS: measured without a limit


def out_of_memory(text: str, limit: int | None) -> str | None:
    """A one-line "out of memory" message when ``text`` (an error or a worker's stderr) says an
    allocation was refused, else None."""
    if not text or not _OOM_TEXT.search(text):
        return None
    where = f"the worker's limit of {limit / 2**30:.1f} GiB ({MEMORY_ENV})" if limit else "the machine's memory"
    return f"out of memory: the configuration needs more than {where}"


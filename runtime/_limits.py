"""Bounds on `Runtime`'s options: the optimization level and the intra-op thread count."""

from __future__ import annotations

import os
from typing import Any

from ortkit.runtime._errors import ProviderUnavailable

__all__ = ["THREADS_PER_CORE", "check_options", "usable_cores"]

# More intra-op threads than this many per usable core only add contention (and memory: 100,000
# threads took over a minute and 2.7 GB before failing); `max_threads` raises the cap on purpose.
THREADS_PER_CORE = 4


def check_options(optimization: Any, threads: Any, max_threads: Any, levels: Any) -> None:
    if not isinstance(optimization, str) or optimization not in levels:
        raise ProviderUnavailable(
            f"unknown optimization level {optimization!r}; use one of {', '.join(levels)}"
        )
    if max_threads is not None and (not isinstance(max_threads, int) or isinstance(max_threads, bool) or max_threads < 1):
        raise ProviderUnavailable(f"max_threads must be a positive integer or None, got {max_threads!r}")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ProviderUnavailable(f"threads must be a positive integer or None, got {threads!r}")
    cores = usable_cores()
    limit = max_threads if max_threads is not None else THREADS_PER_CORE * cores
    if threads is not None and threads > limit:
        raise ProviderUnavailable(
            f"threads={threads} is more than {limit} ({THREADS_PER_CORE} per core on {cores} usable cores, "
            "or max_threads); more threads than cores only contend: pass max_threads to allow it"
        )


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else all of the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1

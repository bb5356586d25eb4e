"""What the machine was doing while it measured: load, CPU steal, frequency governor, busy processes.

A median measured while another program competed for the cores is a figure of that competition.
The profiler cannot prevent it, but it can record it with every result and let the report warn.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NoiseSample", "sample_noise", "noise_between", "NoiseWindow", "QUIET_LOAD_PER_CPU", "QUIET_STEAL", "is_quiet"]

#: a load average per usable CPU above this (the 1-minute figure) means the machine was not quiet;
#: used only where no count of other busy processes was recorded, because the load average also
#: counts ortkit's own workers (a block's workers start and finish together)
QUIET_LOAD_PER_CPU = 0.7
#: a CPU steal share above this (the hypervisor gave the cores to other guests) means not quiet
QUIET_STEAL = 0.02


@dataclass(frozen=True)
class NoiseSample:
    """One reading: the 1-minute load average, the cumulative /proc/stat CPU counters (total and
    steal jiffies), the governor of CPU 0 where readable, and other runnable processes now."""

    load_1m: float | None
    total_jiffies: int | None
    steal_jiffies: int | None
    governor: str | None
    busy_processes: int | None


@dataclass(frozen=True)
class NoiseWindow:
    """The noise seen between two readings: load (mean of both ends), the steal share of CPU
    time in between, the governor, and the most other runnable processes seen at either end."""

    load_1m: float | None
    cpu_steal: float | None
    governor: str | None
    busy_processes: int | None
    cpus: int

    @property
    def quiet(self) -> bool:
        """False when CPU steal or other programs' runnable processes say the cores were shared."""
        return is_quiet(self.load_1m, self.cpu_steal, self.busy_processes, self.cpus)

    def describe(self) -> str:
        parts = [f"load {self.load_1m:.2f} on {self.cpus} CPUs" if self.load_1m is not None else f"{self.cpus} CPUs"]
        if self.cpu_steal is not None:
            parts.append(f"steal {self.cpu_steal:.1%}")
        if self.busy_processes is not None:
            parts.append(f"{self.busy_processes} other busy processes")
        if self.governor:
            parts.append(f"governor {self.governor}")
        return ", ".join(parts)


def is_quiet(load_1m: float | None, cpu_steal: float | None, busy_processes: int | None, cpus: int) -> bool:
    """The one rule for "the machine was quiet": no CPU steal above `QUIET_STEAL` and no runnable
    process outside ortkit's own process tree. The load average decides only for records without
    that count: it cannot tell ortkit's own workers from other programs."""
    if cpu_steal is not None and cpu_steal > QUIET_STEAL:
        return False
    if busy_processes is not None:
        return busy_processes == 0
    return load_1m is None or load_1m / max(cpus, 1) <= QUIET_LOAD_PER_CPU


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _busy_processes() -> int | None:
    """Runnable processes (state R) outside this process's own tree (itself, its workers and
    theirs), from /proc/*/stat: other programs competing for the cores."""
    if not os.path.isdir("/proc"):
        return None
    states: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        text = _read(f"/proc/{entry}/stat")
        if not text:
            continue
        # The state and the parent's pid follow the command name, which is in parentheses and
        # may hold spaces.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) >= 2 and fields[1].lstrip("-").isdigit():
            states[int(entry)] = (int(fields[1]), fields[0])
    own = {os.getpid()}
    grown = True
    while grown:
        children = {pid for pid, (parent, _) in states.items() if parent in own and pid not in own}
        grown = bool(children)
        own |= children
    # Kernel threads (children of kthreadd, pid 2) run briefly all the time: they are not programs.
    return sum(1 for pid, (parent, state) in states.items() if state == "R" and pid not in own and 2 not in (pid, parent))


def sample_noise() -> NoiseSample:
    """Read the machine's noise counters now (None for whatever this OS does not expose)."""
    try:
        load: float | None = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = None
    total = steal = None
    stat = _read("/proc/stat")
    if stat and stat.startswith("cpu "):
        values = [int(v) for v in stat.splitlines()[0].split()[1:]]
        total = sum(values[:8])
        steal = values[7] if len(values) > 7 else 0
    governor = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    return NoiseSample(load, total, steal, governor.strip() if governor else None, _busy_processes())


def noise_between(first: NoiseSample, last: NoiseSample) -> NoiseWindow:
    """The noise of the interval between two readings."""
    loads = [x for x in (first.load_1m, last.load_1m) if x is not None]
    steal = None
    if None not in (first.total_jiffies, last.total_jiffies, first.steal_jiffies, last.steal_jiffies):
        spent = last.total_jiffies - first.total_jiffies  # type: ignore[operator]
        steal = (last.steal_jiffies - first.steal_jiffies) / spent if spent > 0 else 0.0  # type: ignore[operator]
    busy = [x for x in (first.busy_processes, last.busy_processes) if x is not None]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return NoiseWindow(sum(loads) / len(loads) if loads else None, steal, last.governor or first.governor,
                       max(busy) if busy else None, cpus)

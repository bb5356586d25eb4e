"""What the machine was doing while it measured: load, CPU steal, frequency governor, busy processes.

A median measured while another program competed for the cores is a figure of that competition.
The profiler cannot prevent it, but it can record it with every result and let the report warn.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NoiseSample", "sample_noise", "noise_between", "NoiseWindow", "QUIET_LOAD_PER_CPU", "QUIET_STEAL"]

#: a load average per usable CPU above this (the 1-minute figure) means the machine was not quiet
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
        """False when the load per CPU, the steal share or other busy processes say the cores were shared."""
        if self.load_1m is not None and self.load_1m / max(self.cpus, 1) > QUIET_LOAD_PER_CPU:
            return False
        if self.cpu_steal is not None and self.cpu_steal > QUIET_STEAL:
            return False
        return not (self.busy_processes is not None and self.busy_processes >= self.cpus)

    def describe(self) -> str:
        parts = [f"load {self.load_1m:.2f} on {self.cpus} CPUs" if self.load_1m is not None else f"{self.cpus} CPUs"]
        if self.cpu_steal is not None:
            parts.append(f"steal {self.cpu_steal:.1%}")
        if self.busy_processes is not None:
            parts.append(f"{self.busy_processes} other busy processes")
        if self.governor:
            parts.append(f"governor {self.governor}")
        return ", ".join(parts)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _busy_processes() -> int | None:
    """Processes in state R (running or runnable) other than this one, from /proc/*/stat."""
    if not os.path.isdir("/proc"):
        return None
    own = os.getpid()
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own:
            continue
        text = _read(f"/proc/{entry}/stat")
        # The state follows the command name, which is in parentheses and may hold spaces.
        if text and text[text.rfind(")") + 2 : text.rfind(")") + 3] == "R":
            count += 1
    return count


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

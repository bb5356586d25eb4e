"""The search space of `ortkit tune`: shape groups and the candidate configurations of each.

A candidate is one EP with its own options, one set of onnxruntime session settings and one
precision variant file. Everything that can be refused without measuring is refused here, before
any worker starts: an unknown EP, an EP option that EP does not take, an invalid combination of
session settings (`ortkit.runtime.SettingsError`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from ortkit.base import UsageError
from ortkit.runtime import SessionSettings, SettingsError, canonical_ep, is_known_provider, provider_name

__all__ = ["Candidate", "ShapeGroup", "EP_KNOBS", "candidates", "check_ep_options", "shape_groups", "thread_options"]

#: each EP's own knobs that the search tries, as (option, values) (values are onnxruntime's
#: provider option strings). The CPU EP has none: its knobs are the session settings.
EP_KNOBS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "openvino": (("performance_hint", ("LATENCY", "THROUGHPUT")), ("num_streams", ("1", "2")), ("precision", ("FP32", "FP16"))),
    # I/O binding is always on for device EPs in ortkit's runtime (inputs copied once, outputs
    # bound on the device), so it is not a knob here but part of every CUDA candidate.
    "cuda": (("cudnn_conv_algo_search", ("EXHAUSTIVE", "HEURISTIC", "DEFAULT")), ("enable_cuda_graph", ("1",))),
    "tensorrt": (("trt_fp16_enable", ("1",)), ("trt_engine_cache_enable", ("1",))),
}
# Times within this factor of each other share a shape group (one tuned choice): the best threads
# or precision change with the amount of work per call, but little within 16x of it.
GROUP_SPAN = 16.0


@dataclass(frozen=True)
class ShapeGroup:
    """Shapes that get one tuned choice; candidates are raced at ``probe`` (a member)."""

    shapes: tuple[tuple[int, int | None], ...]
    probe: tuple[int, int | None]

    def describe(self) -> str:
        def one(shape: tuple[int, int | None]) -> str:
            return f"b={shape[0]}" + ("" if shape[1] is None else f" T={shape[1]}")

        return f"{', '.join(one(s) for s in self.shapes)} (raced at {one(self.probe)})"


@dataclass(frozen=True)
class Candidate:
    """One configuration the race may pick: EP, its options, session settings, precision file."""

    ep: str
    settings: SessionSettings
    precision: str = "fp32"
    model: str = ""
    model_sha256: str = ""
    ep_options: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        options = "".join(f", {k}={v}" for k, v in self.ep_options)
        return f"{self.ep} {self.precision}: {self.settings.describe()}{options}"


def shape_groups(batches: Sequence[int], times: Sequence[int | None], per_shape: bool = False) -> tuple[ShapeGroup, ...]:
    """Per batch, times split into runs no wider than `GROUP_SPAN`; the probe is the member
    nearest the group's geometric middle (the shorter one on a tie). ``per_shape``: one group each."""
    groups = []
    for batch in sorted(set(batches)):
        lengths = sorted({t for t in times if t is not None})
        if not lengths:
            groups.append(ShapeGroup(((batch, None),), (batch, None)))
            continue
        runs: list[list[int]] = []
        for t in lengths:
            if runs and not per_shape and t / runs[-1][0] <= GROUP_SPAN:
                runs[-1].append(t)
            else:
                runs.append([t])
        for run in runs:
            middle = math.sqrt(run[0] * run[-1])
            probe = min(run, key=lambda t: (abs(math.log(t / middle)), t))
            groups.append(ShapeGroup(tuple((batch, t) for t in run), (batch, probe)))
    return tuple(groups)


def thread_options(cores: int) -> tuple[int, ...]:
    """1, powers of two below the usable cores, and the cores themselves."""
    options = {1, cores}
    power = 2
    while power < cores:
        options.add(power)
        power *= 2
    return tuple(sorted(options))


def check_ep_options(ep: str, options: Iterable[tuple[str, str]]) -> None:
    """Refuse an option the search does not know for ``ep`` (a typo would silently measure the
    default under another name)."""
    known = {name for name, _ in EP_KNOBS.get(_family(ep), ())}
    for name, _ in options:
        if name not in known:
            raise SettingsError(f"{ep} has no tuning option {name!r}; tuned options: {', '.join(sorted(known)) or 'none'}")


def _family(ep: str) -> str:
    return canonical_ep(ep).split(":", 1)[0]


def candidates(ep: str, cores: int, variants: Sequence[tuple[str, str, str]], *, knobs: bool = True) -> tuple[Candidate, ...]:
    """The candidates of one EP: the default first, then threads x precision, then one knob at a
    time changed from the widest-threaded fp32 session, then the EP's own knobs.

    Args:
        ep: the EP spec (``cpu``, ``openvino``, ``cuda:0``...).
        cores: usable cores (threads are tried up to this).
        variants: (precision, file, sha256) of each precision allowed by the accuracy constraint;
            the first must be fp32.
        knobs: also try the session knobs and the EP's options (False: threads x precision only).

    Raises:
        UsageError: an unknown EP name, or no fp32 file.
    """
    name = provider_name(ep)
    if name is None or not is_known_provider(name):
        raise UsageError(f"unknown execution provider {ep!r}: give one such as cpu, openvino, cuda, tensorrt")
    if not variants or variants[0][0] != "fp32":
        raise UsageError("tuning needs the fp32 model as its first variant")
    _, model, sha = variants[0]
    default = Candidate(ep, SessionSettings(), "fp32", model, sha)
    found = [default]
    for precision, path, digest in variants:
        for threads in thread_options(cores):
            found.append(Candidate(ep, SessionSettings(threads=threads), precision, path, digest))
    if knobs:
        wide = SessionSettings(threads=cores)
        changes = [dict(spinning=False), dict(cpu_arena=False), dict(memory_pattern=False), dict(optimization="extended"),
                   dict(optimization="basic")]
        if cores >= 2:
            changes.append(dict(execution_mode="parallel", inter_op_threads=2))
        for change in changes:
            found.append(replace(default, settings=replace(wide, **change)))
        for option, values in EP_KNOBS.get(_family(ep), ()):
            for value in values:
                found.append(replace(default, ep_options=((option, value),)))
    unique = list(dict.fromkeys(found))
    for candidate in unique:
        check_ep_options(candidate.ep, candidate.ep_options)
    return tuple(unique)

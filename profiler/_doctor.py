"""`ortkit doctor`: this machine's noise floor, measured in about 20 seconds.

Two identical tiny configurations (a 64x64 MatMul) are measured side by side in interleaved rounds,
with 1 thread and, where the machine has the cores, with 2: the spread of one configuration's round
medians says how well a single median can be known here, and the spread of the two identical
configurations' per-round ratios (an A/A comparison, whose true value is 1) says how well a paired
comparison can. The noise recorded meanwhile (load, CPU steal, other busy processes) says why.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ortkit.profiler._environment import collect_environment
from ortkit.profiler._noise import NoiseWindow, noise_between, sample_noise
from ortkit.profiler._paired import Groups, paired_ratio, round_spread
from ortkit.profiler._rounds import measure_interleaved
from ortkit.profiler._spec import Budget, ProfileSpec, file_sha256
from ortkit.profiler._store import ResultStore

__all__ = ["NoiseFloor", "ThreadFloor", "noise_floor"]


@dataclass(frozen=True)
class ThreadFloor:
    """What the doctor measured at one thread count: the median call, the spread of round medians
    (IQR/median) and the A/A paired ratio's 95% interval half-width, both as fractions."""

    threads: int
    median_ms: float
    round_spread: float
    aa_ratio: float
    aa_halfwidth: float
    rounds: int

    @property
    def precision(self) -> float:
        """What a paired ratio can be trusted to here: the A/A ratio's distance from 1 (a bias no
        interval shows) plus its interval's half-width."""
        return abs(self.aa_ratio - 1.0) + self.aa_halfwidth


@dataclass(frozen=True)
class NoiseFloor:
    """The doctor's answer: per thread count, and the noise seen meanwhile."""

    floors: tuple[ThreadFloor, ...]
    noise: NoiseWindow
    seconds: float

    def advice(self) -> list[str]:
        """What to do, most important first."""
        out = []
        if not self.noise.quiet:
            out.append(f"The machine is busy ({self.noise.describe()}): close other programs, or expect wider intervals.")
        by = {f.threads: f for f in self.floors}
        if 1 in by and 2 in by and by[2].precision > 2 * max(by[1].precision, 0.002):
            out.append("2 threads are much noisier than 1 here: measure with --threads 1 where reproducibility matters.")
        worst = max((f.precision for f in self.floors), default=0.0)
        if worst > 0.03:
            out.append("Paired ratios are known only to about "
                       f"+-{worst:.0%}: give sweeps more rounds (measure.max_rounds) or a longer max_time_s.")
        if not out:
            out.append("This machine is quiet enough: paired ratios to about +-{:.1%}.".format(worst))
        return out


def _tiny_model(folder: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "doctor",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "doctor.onnx"
    onnx.save(model, path)
    return path


def noise_floor(rounds: int = 12, slice_s: float = 0.1, seed: int | None = None) -> NoiseFloor:
    """Measure this machine's noise floor (about 25 s on 2 cores).

    Args:
        rounds: interleaved rounds (each visits every configuration once).
        slice_s: seconds each configuration is timed per round.
    """
    import time

    start = time.perf_counter()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    thread_counts = (1, 2) if cpus >= 2 else (1,)
    environment = collect_environment()
    first = sample_noise()
    with tempfile.TemporaryDirectory(prefix="ortkit-doctor-") as folder:
        model = _tiny_model(Path(folder))
        sha = file_sha256(model)
        specs = [ProfileSpec(str(model), sha, "doctor", threads=t, tags=(("copy", str(copy)),))
                 for t in thread_counts for copy in (0, 1)]
        # Two workers per configuration: the A/A ratio then also shows the process-to-process
        # effect (memory layout, placement), which rounds inside one process cannot reveal.
        budget = Budget(max_time_s=slice_s * rounds, rounds=rounds, max_rounds=rounds, target_rel_ci=1e-9, processes=2)
        with ResultStore(Path(folder) / "doctor.db") as store:
            results = measure_interleaved([(s, environment, None) for s in specs], budget, store, python=lambda spec: None,
                                          timeout=120.0, seed=seed)
    floors = []
    for index, threads in enumerate(thread_counts):
        a, b = results[2 * index], results[2 * index + 1]
        if not (a.ok and b.ok):
            continue
        ga, gb = Groups.of(a), Groups.of(b)
        ratio = paired_ratio(gb, ga)
        spread = round_spread(ga)
        floors.append(ThreadFloor(threads, float(np.median(ga.round_p50_ms)), spread if spread is not None else float("nan"),
                                  ratio.estimate if ratio else float("nan"),
                                  max(ratio.estimate - ratio.low, ratio.high - ratio.estimate) if ratio else float("nan"),
                                  len(ga.round_p50_ms)))
    return NoiseFloor(tuple(floors), noise_between(first, sample_noise()), time.perf_counter() - start)

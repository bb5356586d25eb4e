"""Can ortkit's profiler numbers be trusted? Prints ratios; checks nothing with a time limit.

(a) ortkit's p50 (the engine timing the worker's call, `Runtime.run`, both as isolated mode's
    `measure` and as interleaved mode's calibrated slices) against a bare hand-written
    `session.run` timing loop on the SAME session, in rounds of random order so machine drift
    hits all alike; the per-round ratios' median and range. Target: within 2%.
(b) The same grid (an LSTM, an MLP and a 1-D CNN; batch 1/8, time 16/64, threads 1/2: 20
    configurations: the MLP has no time axis) measured twice in interleaved rounds. Target: medians
    within 5% for >= 95%.
(c) Paired ratios (CNN/LSTM at each shape and thread count, 2 threads / 1 thread for each model
    and shape: 18 pairs) from the two runs. Target: within 3% for >= 95%.
(d) A third run while another CPU-bound process spins on the machine; its paired ratios against
    run 1. Target: within 5% for >= 90%.
(e) A/A: `ortkit compare` of run 1 against run 2. Target: no significant change for >= 95%.

    .venv/bin/python benchmarks/profiler_trust.py [--rounds 9] [--max-time 0.5] [--processes 2]

Models are built with onnx.helper (no torch).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def lstm(path: Path, hidden: int = 128, features: int = 16) -> Path:
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, features)).astype(np.float32) * 0.1, "W"),
        numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32) * 0.1, "R"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axes"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["xt", "W", "R"], ["all", "h"], hidden_size=hidden),
        helper.make_node("Squeeze", ["h", "axes"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", features])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", hidden])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def mlp(path: Path, size: int = 512) -> Path:
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((size, size)).astype(np.float32) / size**0.5, f"W{i}") for i in range(2)]
    nodes = [helper.make_node("MatMul", ["x", "W0"], ["h"]), helper.make_node("Relu", ["h"], ["r"]), helper.make_node("MatMul", ["r", "W1"], ["y"])]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", size])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def cnn(path: Path, channels: int = 64, features: int = 16) -> Path:
    """x (batch, time, features) -> two dilated Conv1d layers with ReLU -> mean over time."""
    rng = np.random.default_rng(2)
    inits = [
        numpy_helper.from_array(rng.standard_normal((channels, features, 3)).astype(np.float32) * 0.1, "W0"),
        numpy_helper.from_array(rng.standard_normal((channels, channels, 3)).astype(np.float32) * 0.05, "W1"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axes"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
        helper.make_node("Conv", ["xt", "W0"], ["c0"], pads=[2, 0], dilations=[1]),
        helper.make_node("Relu", ["c0"], ["r0"]),
        helper.make_node("Conv", ["r0", "W1"], ["c1"], pads=[4, 0], dilations=[2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("ReduceMean", ["r1", "axes"], ["y"], keepdims=0),
    ]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", features])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", channels])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def bare_loop(session, feeds, seconds: float, loops: int = 1) -> list[float]:
    """The hand-written loop a careful engineer would write: warm up, time each run (ms), or
    ``loops`` runs at a time (timeit-style) for a call too short to time alone."""
    for _ in range(10):
        session.run(None, feeds)
    times = []
    stop = time.perf_counter() + seconds
    while len(times) < 20 or time.perf_counter() < stop:
        t0 = time.perf_counter()
        for _ in range(loops):
            session.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3 / loops)
    return times


def _worker_call(rt, feeds):
    """The call the worker times, built by the worker's own code."""
    from ortkit.profiler._worker import _call

    return _call(rt, feeds, {})


def trust_a(folder: Path, rounds: int, max_time: float) -> list[float]:
    """Per round, in a fresh random order: a bare loop, ortkit's isolated-mode `measure` and
    ortkit's interleaved-mode slices (calibrated loops, as a serving worker times them), each on
    the same session. Returns the worst per-case ratio of the two ortkit modes."""
    from ortkit.profiler import Budget, measure
    from ortkit.profiler._engine import calibrate, time_slice
    from ortkit.profiler._worker import REWARM_SHARE
    from ortkit.runtime import Runtime

    cases = [(lstm(folder / "lstm.onnx"), {"x": (1, 1, 16)}), (lstm(folder / "lstm.onnx"), {"x": (1, 100, 16)}),
             (lstm(folder / "lstm.onnx"), {"x": (8, 32, 16)}), (mlp(folder / "mlp.onnx"), {"x": (16, 512)})]
    rng = np.random.default_rng(0)
    worst = []
    print(f"(a) ortkit p50 vs a bare session.run loop on the same session (threads=1, {rounds} rounds in random order)")
    for path, shapes in cases:
        rt = Runtime(path, "cpu", threads=1)
        feeds = {k: np.random.default_rng(0).standard_normal(v).astype(np.float32) for k, v in shapes.items()}
        call = _worker_call(rt, feeds)
        warmup, loops = calibrate(call)
        typical = float(np.median(warmup[-5:]))
        slice_s = max_time / 6
        medians: dict[str, list[float]] = {"bare": [], "isolated": [], "interleaved": []}
        for _ in range(rounds):
            for kind in rng.permutation(list(medians)):
                if kind == "bare":
                    medians[kind].append(float(np.median(bare_loop(rt.session, feeds, max_time / 2, loops))))
                elif kind == "isolated":
                    medians[kind].append(measure(call, Budget(max_time_s=max_time)).stats.p50)
                else:
                    samples = []
                    for _ in range(3):
                        samples.extend(time_slice(call, slice_s, loops=loops, rewarm=typical * loops * REWARM_SHARE < slice_s * 1e3))
                    medians[kind].append(float(np.median(samples)))
        bare = np.array(medians["bare"])
        ratios = {k: np.array(v) / bare for k, v in medians.items() if k != "bare"}
        line = f"    {path.stem:5s} {shapes['x']!s:12s} bare p50 {np.median(bare):8.4f} ms"
        for kind, r in ratios.items():
            line += f"  {kind} {np.median(medians[kind]):8.4f} ms ratio {np.median(r):.3f} [{r.min():.3f}-{r.max():.3f}]"
        print(line + (f"  ({loops} calls per timed loop, bare loop too)" if loops > 1 else ""))
        worst.extend(float(np.median(r)) for r in ratios.values())
    return worst


def grid_run(folder: Path, name: str, max_time: float, processes: int) -> dict:
    from ortkit.profiler import Budget, profile

    models = [lstm(folder / "lstm.onnx"), mlp(folder / "mlp.onnx"), cnn(folder / "cnn.onnx")]
    t0 = time.perf_counter()
    summary = profile(models, ["cpu"], [1, 8], [16, 64], [1, 2], db=folder / f"{name}.db", mode="interleaved",
                      budget=Budget(max_time_s=max_time, processes=processes, rounds=6, max_rounds=12, target_rel_ci=0.005))
    took = time.perf_counter() - t0
    load = os.getloadavg()[0]
    print(f"    {name}: {len(summary.results)} configurations in {took:.0f} s (load average {load:.1f} at the end)")
    return {r.spec.spec_hash: r for r in summary.results if r.ok}


def pairs(run: dict) -> dict:
    """The paired ratios of one run: CNN/LSTM per shape and threads, 2/1 threads per model and shape."""
    from ortkit.profiler import ratio_between

    by = {(r.spec.model_label, r.spec.batch, r.spec.time, r.spec.threads): r for r in run.values()}
    out = {}
    for (label, batch, t, threads), row in by.items():
        other = by.get(("lstm", batch, t, threads))
        if label != "lstm" and other is not None:
            out[f"{label}/lstm b={batch} t={t} th={threads}"] = ratio_between(row, other).estimate
        one = by.get((label, batch, t, 1))
        if threads == 2 and one is not None:
            out[f"{label} th2/th1 b={batch} t={t}"] = ratio_between(row, one).estimate
    return out


def agreement(first: dict, second: dict, tolerance: float) -> tuple[int, int, float]:
    common = [k for k in first if k in second]
    within = sum(abs(second[k] / first[k] - 1) <= tolerance for k in common)
    worst = max((abs(second[k] / first[k] - 1) for k in common), default=float("nan"))
    return within, len(common), worst


def spinner() -> subprocess.Popen:
    """Another CPU-bound program on the machine (one busy core)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def trust_grid(folder: Path, max_time: float, processes: int) -> None:
    print(f"(b)-(e) the same 20-configuration grid in interleaved rounds, {processes} worker(s) per configuration")
    run1 = grid_run(folder, "run1", max_time, processes)
    run2 = grid_run(folder, "run2", max_time, processes)
    busy = spinner()
    try:
        run3 = grid_run(folder, "run3-busy", max_time, processes)
    finally:
        busy.kill()
        busy.wait()
    medians = {k: r.stats.p50 for k, r in run1.items()}, {k: r.stats.p50 for k, r in run2.items()}
    within, total, worst = agreement(*medians, 0.05)
    print(f"(b) medians run1 vs run2 within 5%: {within}/{total} = {within / max(total, 1):.0%} (target >= 95%; worst {worst:.1%})")
    for key, row in sorted(run1.items(), key=lambda kv: kv[1].spec.describe()):
        if key in run2:
            print(f"      {row.spec.describe():<30} {row.stats.p50:8.4f} ms  {run2[key].stats.p50:8.4f} ms  {run2[key].stats.p50 / row.stats.p50:.3f}")
    p1, p2, p3 = pairs(run1), pairs(run2), pairs(run3)
    within, total, worst = agreement(p1, p2, 0.03)
    print(f"(c) paired ratios run1 vs run2 within 3%: {within}/{total} = {within / max(total, 1):.0%} (target >= 95%; worst {worst:.1%})")
    for key in sorted(p1):
        if key in p2:
            print(f"      {key:<28} {p1[key]:.3f}  {p2[key]:.3f}  {p3.get(key, float('nan')):.3f} (busy)")
    within, total, worst = agreement(p1, p3, 0.05)
    print(f"(d) paired ratios run1 vs run3 (another CPU-bound process running) within 5%: {within}/{total} = "
          f"{within / max(total, 1):.0%} (target >= 90%; worst {worst:.1%})")
    medians3 = {k: r.stats.p50 for k, r in run3.items()}
    within, total, worst = agreement(medians[0], medians3, 0.05)
    print(f"    (medians run1 vs run3 within 5%: {within}/{total}; worst {worst:.1%})")
    from ortkit.report import compare

    result = compare(str(folder / "run1.db"), str(folder / "run2.db"))
    unchanged = sum(1 for r in result.rows if r.verdict == "unchanged")
    print(f"(e) A/A ortkit compare run1 run2: {unchanged}/{len(result.rows)} = {unchanged / max(len(result.rows), 1):.0%} "
          "without a significant change (target >= 95%)")
    unstable = sum(1 for r in [*run1.values(), *run2.values()] if r.unstable)
    print(f"    unstable (robust rule): {unstable} of {len(run1) + len(run2)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--max-time", type=float, default=0.5)
    parser.add_argument("--processes", type=int, default=2, help="worker processes per configuration in (b)-(e)")
    parser.add_argument("--skip-a", action="store_true", help="only the grid checks")
    parser.add_argument("--only-a", action="store_true", help="only check (a)")
    parser.add_argument("--keep", default=None, help="keep the models and result databases in this folder")
    args = parser.parse_args()
    from ortkit.profiler import collect_environment

    env = collect_environment(with_gpus=False)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {env.cpu_model}, {env.cpu_cores_logical} logical cores; {env.onnxruntime_distribution} {env.onnxruntime}; "
          f"load average {load:.2f} (1 min) at the start")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or scratch
        Path(folder).mkdir(parents=True, exist_ok=True)
        if not args.skip_a:
            a = trust_a(Path(folder), args.rounds, args.max_time)
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            print(f"    worst |ratio - 1| = {max(abs(r - 1) for r in a):.1%} (target <= 2%); load average {load:.2f} after (a)")
        if not args.only_a:
            trust_grid(Path(folder), args.max_time, args.processes)


if __name__ == "__main__":
    main()
